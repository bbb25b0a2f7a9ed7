"""The plain-folder host: ``folder:PATH`` (or a bare path).

Photos are the image and video files under PATH (hidden entries and ``.photoplug/``
skipped; a Live Photo's ``.MOV`` goes with its still), their stable id the path relative
to PATH. Keywords go into XMP sidecars (``FILE.EXT.xmp``, or the ``FILE.xmp`` already
there); albums are folders of relative symbolic links under ``PATH/.photoplug/albums/
NAME/``. Every write is journalled so ``undo`` reverses it.
"""
from __future__ import annotations

import fnmatch
import os
from itertools import groupby
from pathlib import Path
from typing import Any, Collection, Iterator, Mapping

from photoplug.adapters.common.folder_files import (keywords_present, merge, photo_ref,
                                                   select_in_folder, walk_files)
from photoplug.adapters.common.journal import Journal
from photoplug.adapters.common.sidecars import SidecarKeywords
from photoplug.media.formats import VIDEO_SUFFIXES, live_motions, not_read, photo_suffixes
from photoplug.adapters.common.host_hooks import library_hooks
from photoplug.hooks import (HostState, LocationError, PhotoRef, WriteOptions, WritePlan,
                             WriteReport, hookimpl)

STATE_DIR = ".photoplug"
# files that travel with photos (metadata, edits, camera thumbnails): not counted as unread
COMPANIONS = frozenset({".xmp", ".aae", ".thm"})


class FolderLibrary:
    """A folder of photos, scanned recursively."""

    def __init__(self, root: Path, exclude: Collection[str] = (),
                 include_hidden: bool = False) -> None:
        self.root = root
        self.uri = f"folder:{root}"
        self.exclude = tuple(exclude)
        self.include_hidden = include_hidden
        self.state_dir = root / STATE_DIR
        self.sidecars = SidecarKeywords(root, self.state_dir)

    def available(self) -> bool:
        return self.root.is_dir()

    def path_of(self, stable_id: str) -> Path:
        return self.root / stable_id

    def _excluded(self, rel: str, name: str) -> bool:
        if name == STATE_DIR or (name.startswith(".") and not self.include_hidden):
            return True
        return any(fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(name, pat)
                   for pat in self.exclude)

    def scan(self) -> Iterator[PhotoRef]:
        """Every photo and video file; symbolic links followed, loops and repeats visited
        once. A ``.MOV`` beside a still of the same name is that Live Photo's motion: the
        still stands for both. Any other file (but sidecars) is listed with the reason it
        is not read, so ``status`` counts it by extension."""
        for _, group in groupby(walk_files(self.root, self._excluded), lambda f: f[0].parent):
            entries = list(group)  # one folder's files
            motions = live_motions(p.name for p, _, problem in entries if not problem)
            for path, rel, problem in entries:
                if problem:
                    yield PhotoRef(rel + "/", path, 0, 0.0, problem=problem)
                elif path.suffix.lower() in photo_suffixes() or (
                        path.suffix.lower() in VIDEO_SUFFIXES and path.name not in motions):
                    yield photo_ref(path, rel)
                elif path.suffix.lower() not in COMPANIONS and path.name not in motions:
                    yield PhotoRef(rel, path, 0, 0.0, problem=not_read(path))

    def roots(self) -> list[Path]:
        """Where this library's files may live (a server serves nothing outside)."""
        return [self.root]

    def select(self, album: str | None = None, since: str | None = None,
               until: str | None = None, **unsupported: object) -> set[str]:
        """Photos in a subfolder (``album``) and modified within a date range."""
        asked = sorted(k for k, v in unsupported.items() if v)
        if asked:
            raise LocationError(f"a plain folder has no {', '.join(asked)} to filter by")
        return select_in_folder(self.root, self.scan(), album, since, until)

    # -- write-back -----------------------------------------------------------------

    @property
    def ledger_path(self) -> Path:
        """photoplug's record of its writes here (the user's corrections come from it)."""
        return self.state_dir / "ledger.json"

    def write(self, plan: WritePlan, options: WriteOptions) -> WriteReport:
        """Keywords into sidecars (added and taken off), albums as folders of links."""
        dry_run = options.dry_run
        report = self.sidecars.add({sid: (self.path_of(sid), words) for sid, words in
                                    plan.add_keywords.items() if words}, dry_run)
        merge(report, self.sidecars.remove({sid: (self.path_of(sid), words) for sid, words
                                            in plan.remove_keywords.items() if words},
                                           dry_run))
        merge(report, self._write_albums(plan.albums, dry_run))
        return report

    def read_back(self, expected: HostState) -> HostState:
        """Album members from the links in each album folder; keywords from the sidecars
        of the photos photoplug expects them on."""
        return HostState({name: set(self.album_links(name)) for name in expected.albums},
                         keywords_present(self.sidecars, expected, self.path_of))

    def album_folder(self, name: str) -> Path:
        return self.state_dir / "albums" / album_dirname(name)

    def album_links(self, name: str) -> dict[str, list[Path]]:
        """The photos an album folder links to (stable id -> its links), whoever made
        the links; anything else in the folder is not a member."""
        folder = self.album_folder(name)
        out: dict[str, list[Path]] = {}
        if not folder.is_dir():
            return out
        real_root = Path(os.path.realpath(self.root))
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            if not entry.is_symlink():
                continue
            target = Path(os.path.normpath(folder / os.readlink(entry.path)))
            for base, where in ((self.root, target), (real_root, Path(os.path.realpath(target)))):
                if where.is_relative_to(base):
                    out.setdefault(where.relative_to(base).as_posix(), []).append(
                        Path(entry.path))
                    break
        return out

    def _write_albums(self, albums: Mapping[str, Collection[str]], dry_run: bool
                      ) -> WriteReport:
        report = WriteReport(dry_run=dry_run)
        journal = Journal(self.state_dir)
        for name, members in sorted(albums.items()):
            folder = self.album_folder(name)
            links = self.album_links(name)
            for sid in sorted(set(links) - set(members)):
                for link in links[sid]:
                    report.changes.append(f"album {name}: - {link.name}")
                    if not dry_run:
                        link.unlink()
            for sid in sorted(set(members) - set(links)):
                link = free_name(folder, link_name(sid))
                report.changes.append(f"album {name}: + {link.name}")
                if not dry_run:
                    folder.mkdir(parents=True, exist_ok=True)
                    journal.albums.add(folder.name)
                    journal.save()
                    os.symlink(os.path.relpath(self.path_of(sid), folder), link)
        return report

    def undo(self, options: WriteOptions) -> WriteReport:
        """Sidecars restored, album links removed, photoplug's record forgotten; a file of
        yours inside an album folder is kept (with its folder)."""
        dry_run = options.dry_run
        report = self.sidecars.undo(dry_run)
        journal = Journal(self.state_dir)
        for album in sorted(journal.albums):
            report.changes.append(f"remove album {album}")
            merge(report, remove_links(self.state_dir / "albums" / album, dry_run))
        if not dry_run and not report.errors:
            journal.clear()
            for leftover in (self.state_dir / "albums", self.state_dir):
                if leftover.is_dir() and not any(leftover.iterdir()):
                    leftover.rmdir()
        return report


def remove_links(folder: Path, dry_run: bool) -> WriteReport:
    """Delete the symbolic links in an album folder, then the folder if nothing else is
    in it."""
    report = WriteReport(dry_run=dry_run)
    if not folder.is_dir():
        return report
    others = [e.name for e in os.scandir(folder) if not e.is_symlink()]
    if not dry_run:
        for entry in os.scandir(folder):
            if entry.is_symlink():
                os.unlink(entry.path)
        if not others:
            folder.rmdir()
    if others:
        report.notes.append(f"kept {folder}: it holds {len(others)} files that are not "
                            f"photoplug's links")
    return report


def free_name(folder: Path, name: str) -> Path:
    """``folder/name``, or ``name (2)``... where that name is taken."""
    candidate, n = folder / name, 2
    while candidate.is_symlink() or candidate.exists():
        stem, dot, ext = name.rpartition(".")
        candidate = folder / (f"{stem} ({n}).{ext}" if dot else f"{name} ({n})")
        n += 1
    return candidate


def album_dirname(name: str) -> str:
    """An album name as one safe folder name."""
    clean = name.replace("/", "∕").replace("\0", "").strip().lstrip(".")
    return clean or "album"


def link_name(stable_id: str) -> str:
    """A photo's link name inside an album folder: its relative path, flattened."""
    return stable_id.replace("/", " ∕ ")


class FolderAdapter:
    scheme = "folder"
    description = "a folder of photos; XMP sidecars and album folders of links"

    def open(self, target: str, exclude: Collection[str] = (), include_hidden: bool = False,
             **_: Any) -> FolderLibrary:
        if not target.strip():
            raise LocationError("folder: needs a path")
        root = Path(os.path.abspath(Path(target).expanduser()))
        if root.exists() and not root.is_dir():
            raise LocationError(f"{target} is a file, not a folder of photos")
        return FolderLibrary(root, exclude, include_hidden)


@hookimpl
def photoplug_adapters() -> list[FolderAdapter]:
    return [FolderAdapter()]


photoplug_write, photoplug_read_back, photoplug_undo = library_hooks(FolderLibrary)
