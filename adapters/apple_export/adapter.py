"""The Apple Photos host, through an export: ``apple-export:PATH``.

PATH is a folder written by Photos (File > Export > Export Unmodified Originals) or by
``osxphotos export``. Each photo is indexed once, from its original still (Live Photo
videos, ``.AAE`` edit files and edited copies are grouped with it); a video of its own is
indexed as a video. Its stable id is its Photos UUID when the folder holds osxphotos'
export database, else its relative path.

Write-back does two things. Keywords go into XMP sidecars beside every still of the photo
(``dc:subject`` "beach", ``lr:hierarchicalSubject`` "photoplug|beach"), merged with the
user's, journalled for undo. And a cumulative plan for Photos itself is kept and written
out as ``photoplug-apply.applescript`` (run on the Mac) and ``photoplug-plan.json``:
namespaced keywords (``photoplug/beach``) and albums inside a ``photoplug`` folder.
"""
from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Any, Collection, Iterator, Mapping

from photoplug.adapters.apple_export.files import ExportedPhoto, edit_base, group_files
from photoplug.adapters.apple_export.capture_dates import capture_date
from photoplug.adapters.common.folder_files import (keywords_present, merge, photo_ref,
                                                   select_in_folder, walk_files)
from photoplug.adapters.common.journal import Journal
from photoplug.adapters.apple_export.osxphotos_db import EXPORT_DB, read_uuids
from photoplug.adapters.apple_export.photos_plan import (KEYWORD_PREFIX, PhotosPlan, PlannedPhoto,
                                            plan_text, write_atomically)
from photoplug.adapters.apple_export.photos_script import apply_script, undo_script
from photoplug.adapters.common.sidecars import SidecarKeywords, sidecar_for
from photoplug.media.formats import VIDEO_SUFFIXES, photo_suffixes
from photoplug.adapters.common.host_hooks import library_hooks
from photoplug.hooks import (HostState, LocationError, PhotoRef, WriteOptions, WritePlan,
                             WriteReport, hookimpl)

SCHEME = "apple-export"
STATE_DIR = ".photoplug"
APPLY_SCRIPT = "photoplug-apply.applescript"
PLAN_JSON = "photoplug-plan.json"
UNDO_SCRIPT = "photoplug-undo.applescript"
UNDO_JSON = "photoplug-undo.json"
SIDECAR_FIELDS = ("XMP-dc:Subject", "XMP-lr:HierarchicalSubject")
_COPY_SUFFIX = re.compile(r" \(\d+\)$")  # "IMG_1234 (1).HEIC": a second file of that name


class AppleExportLibrary:
    """An export folder of a Photos library."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.uri = f"{SCHEME}:{root}"
        self.state_dir = root / STATE_DIR
        self.db_path = root / EXPORT_DB
        self.sidecars = SidecarKeywords(root, self.state_dir, SIDECAR_FIELDS, self.sidecar_for)
        self._short_sidecars = False

    def available(self) -> bool:
        return self.root.is_dir()

    def roots(self) -> list[Path]:
        return [self.root]

    def notes(self) -> list[str]:
        """How photos are matched to Photos, for ``photoplug status``."""
        if self.db_path.exists():
            return [f"Photos identity: UUIDs from {EXPORT_DB}"]
        return [f"Photos identity: no {EXPORT_DB} in this folder, so photos are found in "
                f"Photos by original file name + capture date (EXIF DateTimeOriginal or XMP)"]

    # -- reading --------------------------------------------------------------------

    def photos(self) -> tuple[dict[str, ExportedPhoto], list[PhotoRef]]:
        """Every photo by stable id, and the folders that could not be read."""
        files, problems, sidecars = [], [], Counter()
        for path, rel, problem in walk_files(self.root, _hidden):
            if problem:
                problems.append(PhotoRef(rel + "/", path, 0, 0.0, problem=problem))
            elif path.suffix.lower() == ".xmp":
                inner = PurePosixPath(path.stem).suffix.lower()
                sidecars["long" if inner in photo_suffixes() | VIDEO_SUFFIXES else "short"] += 1
            else:
                files.append(rel)
        self._short_sidecars = sidecars["short"] > sidecars["long"]
        uuids = read_uuids(self.db_path) if self.db_path.exists() else {}
        return {p.key: p for p in group_files(files, uuids)}, problems

    def scan(self) -> Iterator[PhotoRef]:
        photos, problems = self.photos()
        yield from problems
        for key, photo in photos.items():
            host_ref = {"uuid": photo.uuid, "files": photo.files,
                        "live_video": photo.live_videos}
            yield photo_ref(self.root / photo.primary, key, host_ref)

    def select(self, album: str | None = None, since: str | None = None,
               until: str | None = None, **unsupported: object) -> set[str]:
        """Photos in a subfolder of the export (``album``), modified within a date range."""
        asked = sorted(k for k, v in unsupported.items() if v)
        if asked:
            raise LocationError(f"an Apple Photos export has no {', '.join(asked)} to "
                                f"filter by")
        return select_in_folder(self.root, self.scan(), album, since, until)

    def sidecar_for(self, photo: Path) -> Path:
        """The sidecar already beside the photo, else the folder's naming: Photos'
        ``IMG_1234.xmp`` if most sidecars here are named so, osxphotos' ``IMG_1234.HEIC.xmp``
        otherwise."""
        existing = sidecar_for(photo)
        if existing.exists() or not self._short_sidecars:
            return existing
        return photo.with_suffix(".xmp")

    # -- writing --------------------------------------------------------------------

    def _plan_path(self) -> Path:
        return self.state_dir / "photos-plan.json"

    def _load_plan(self) -> PhotosPlan:
        try:
            return PhotosPlan.load(self._plan_path())
        except ValueError as exc:
            raise LocationError(str(exc)) from None

    def _planned(self, photo: ExportedPhoto) -> PlannedPhoto:
        primary = photo.primary
        name = PurePosixPath(primary)
        stem = _COPY_SUFFIX.sub("", edit_base(name.stem)[0])
        taken = None
        if not photo.uuid:  # the date tells apart photos that share a file name
            path = self.root / primary
            taken = capture_date(path, self.sidecar_for(path))
        return PlannedPhoto(photo.uuid, stem + name.suffix, taken, tuple(photo.files))

    def _lookup(self, ids: Collection[str], report: WriteReport
                ) -> dict[str, ExportedPhoto]:
        photos, _ = self.photos()
        for sid in sorted(set(ids) - photos.keys()):
            report.errors.append(f"{sid}: no longer in {self.root}; run `photoplug index` again")
        return {sid: photos[sid] for sid in ids if sid in photos}

    @property
    def ledger_path(self) -> Path:
        """photoplug's record of its writes here (the user's corrections come from it)."""
        return self.state_dir / "ledger.json"

    def write(self, plan: WritePlan, options: WriteOptions) -> WriteReport:
        """Keywords into the sidecars beside every still (a video of its own: beside it);
        keywords and albums into the plan for Photos (and its script)."""
        dry_run = options.dry_run
        report = WriteReport(dry_run=dry_run)
        wanted = set(plan.add_keywords) | set(plan.remove_keywords) | \
            {sid for ids in plan.albums.values() for sid in ids}
        photos = self._lookup(wanted, report)
        for words_of, write in ((plan.add_keywords, self.sidecars.add),
                                (plan.remove_keywords, self.sidecars.remove)):
            merge(report, write({rel: (self.root / rel, words_of[sid])
                                 for sid, photo in photos.items() if words_of.get(sid)
                                 for rel in photo.files}, dry_run))
        photos_plan = self._load_plan()
        self._plan_keywords(photos_plan, photos, plan, report)
        self._plan_albums(photos_plan, photos, plan.albums, report)
        self._save(photos_plan, report)
        return report

    def read_back(self, expected: HostState) -> HostState:
        """Keywords from the sidecars of each photo's first file. Albums as photoplug
        planned them: what the user does in Photos itself cannot be seen from here."""
        photos, _ = self.photos()
        planned = self._load_plan()
        firsts = {sid: photo.files[0] for sid, photo in photos.items()}
        known = HostState({}, {w: {sid for sid in ids if sid in firsts}
                               for w, ids in expected.keywords.items()})
        keywords = keywords_present(self.sidecars, known, lambda sid: self.root / firsts[sid])
        return HostState({name: set(planned.albums.get(name, [])) for name in expected.albums},
                         keywords)

    def _plan_keywords(self, photos_plan: PhotosPlan, photos: Mapping[str, ExportedPhoto],
                       plan: WritePlan, report: WriteReport) -> None:
        for sid, photo in sorted(photos.items()):
            have = set(photos_plan.keywords.get(sid, []))
            add = {photos_keyword(w) for w in plan.add_keywords.get(sid, ())} - have
            off = {photos_keyword(w) for w in plan.remove_keywords.get(sid, ())} & have
            if not add and not off:
                continue
            photos_plan.keywords[sid] = sorted((have | add) - off)
            photos_plan.removed[sid] = sorted(
                (set(photos_plan.removed.get(sid, [])) | off) - add)
            photos_plan.photos.setdefault(sid, self._planned(photo))
            change = ", ".join([f"+ {w}" for w in sorted(add)] + [f"- {w}" for w in sorted(off)])
            report.changes.append(f"Photos: {photos_plan.photos[sid].filename}: {change}")

    def _plan_albums(self, photos_plan: PhotosPlan, photos: Mapping[str, ExportedPhoto],
                     albums: Mapping[str, Collection[str]], report: WriteReport) -> None:
        for name, ids in sorted(albums.items()):
            members = sorted(sid for sid in set(ids) if sid in photos)
            before = set(photos_plan.albums.get(name, []))
            if name in photos_plan.albums and before == set(members):
                continue
            for sid in members:
                photos_plan.photos.setdefault(sid, self._planned(photos[sid]))
            photos_plan.albums[name] = members
            report.changes.append(f"Photos album {name}: {len(members)} photos (+"
                                  f"{len(set(members) - before)} -{len(before - set(members))})")

    def _save(self, plan: PhotosPlan, report: WriteReport) -> None:
        """Keep the plan and write it out for the Mac, when it changed."""
        plan.prune()
        text = plan_text(plan)
        state = self._plan_path()
        if plan.empty() and not state.exists():
            return
        if (state.read_text(encoding="utf-8") if state.exists() else None) == text:
            return
        report.changes.append(f"{APPLY_SCRIPT}: {len(plan.keywords)} photos with keywords, "
                              f"{len(plan.albums)} albums; on the Mac run: "
                              f"osascript {APPLY_SCRIPT}")
        if report.dry_run:
            return
        write_atomically(state, text)
        write_atomically(self.root / PLAN_JSON, text)
        write_atomically(self.root / APPLY_SCRIPT, apply_script(plan, APPLY_SCRIPT))

    def undo(self, options: WriteOptions) -> WriteReport:
        """Restore the sidecars; turn the plan into an undo script for Photos."""
        dry_run = options.dry_run
        report = self.sidecars.undo(dry_run)
        plan = self._load_plan()
        if not plan.empty():
            undo = _merged(PhotosPlan.load(self.root / UNDO_JSON)
                           if (self.root / UNDO_JSON).exists() else PhotosPlan(), plan)
            report.changes.append(
                f"{UNDO_SCRIPT}: takes photoplug's keywords off {len(undo.keywords)} photos and "
                f"deletes {len(undo.albums)} albums; on the Mac run: osascript {UNDO_SCRIPT}")
            if not dry_run:
                write_atomically(self.root / UNDO_JSON, plan_text(undo))
                write_atomically(self.root / UNDO_SCRIPT, undo_script(undo, UNDO_SCRIPT))
                for done in (self.root / APPLY_SCRIPT, self.root / PLAN_JSON, self._plan_path()):
                    done.unlink(missing_ok=True)
        if not dry_run and not report.errors:
            Journal(self.state_dir).clear()
            if self.state_dir.is_dir() and not any(self.state_dir.iterdir()):
                self.state_dir.rmdir()
        return report


def photos_keyword(keyword: str) -> str:
    """photoplug's keyword as Photos gets it: flat, so namespaced (``photoplug/beach``)."""
    return KEYWORD_PREFIX + keyword.replace("|", "/").strip("/")


def _merged(older: PhotosPlan, newer: PhotosPlan) -> PhotosPlan:
    """Everything either plan put into Photos (an undo not yet run on the Mac is kept)."""
    out = PhotosPlan({**older.photos, **newer.photos}, dict(older.keywords),
                     {k: list(v) for k, v in older.albums.items()})
    for sid, words in newer.keywords.items():
        out.keywords[sid] = sorted(set(out.keywords.get(sid, [])) | set(words))
    for name, ids in newer.albums.items():
        out.albums[name] = sorted(set(out.albums.get(name, [])) | set(ids))
    return out


def _hidden(rel: str, name: str) -> bool:
    return name.startswith(".")


class AppleExportAdapter:
    scheme = SCHEME
    description = ("an Apple Photos export (Export Unmodified Originals or osxphotos); "
                   "XMP sidecars and an AppleScript for Photos")

    def open(self, target: str, **_: Any) -> AppleExportLibrary:
        if not target.strip():
            raise LocationError(f"{SCHEME}: needs the path of an exported folder")
        root = Path(os.path.abspath(Path(target).expanduser()))
        if root.exists() and not root.is_dir():
            raise LocationError(f"{target} is a file, not an exported folder of photos")
        return AppleExportLibrary(root)


@hookimpl
def photoplug_adapters() -> list[AppleExportAdapter]:
    return [AppleExportAdapter()]


photoplug_write, photoplug_read_back, photoplug_undo = library_hooks(AppleExportLibrary)
