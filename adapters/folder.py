"""The plain-folder host: ``folder:PATH`` (or a bare path).

Photos are the image files under PATH (hidden entries and ``.photoplug/`` skipped), their
stable id the path relative to PATH. Keywords go into XMP sidecars (``FILE.EXT.xmp``, or
the ``FILE.xmp`` already there); albums are folders of relative symbolic links under
``PATH/.photoplug/albums/NAME/``. Every write is journalled so ``undo`` reverses it.
"""
from __future__ import annotations

import fnmatch
import os
import shutil
from pathlib import Path
from typing import Any, Collection, Iterator, Mapping

from photoplug.adapters.journal import Journal, SidecarEntry
from photoplug.adapters.xmp import FIELDS, SidecarError, Sidecars, field_values, sha256
from photoplug.decode import PHOTO_SUFFIXES
from photoplug.hooks import LocationError, PhotoRef, WriteReport, hookimpl

STATE_DIR = ".photoplug"


class FolderLibrary:
    """A folder of photos, scanned recursively."""

    def __init__(self, root: Path, exclude: Collection[str] = (),
                 include_hidden: bool = False) -> None:
        self.root = root
        self.uri = f"folder:{root}"
        self.exclude = tuple(exclude)
        self.include_hidden = include_hidden
        self.state_dir = root / STATE_DIR

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
        """Every photo file; symbolic links followed, loops and repeats visited once."""
        seen_dirs: set[tuple[int, int]] = set()
        stack = [self.root]
        while stack:
            folder = stack.pop()
            try:
                st = folder.stat()
                if (st.st_dev, st.st_ino) in seen_dirs:
                    continue
                seen_dirs.add((st.st_dev, st.st_ino))
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError as exc:
                yield self._problem(folder, f"folder unreadable: {exc.strerror or exc}")
                continue
            for entry in entries:
                rel = Path(entry.path).relative_to(self.root).as_posix()
                if self._excluded(rel, entry.name):
                    continue
                try:
                    if entry.is_dir(follow_symlinks=True):
                        stack.append(Path(entry.path))
                        continue
                except OSError:
                    pass
                if Path(entry.name).suffix.lower() not in PHOTO_SUFFIXES:
                    continue
                yield self._photo(Path(entry.path), rel)

    def _photo(self, path: Path, rel: str) -> PhotoRef:
        try:
            st = path.stat()
        except OSError as exc:
            reason = "broken symbolic link" if path.is_symlink() else f"unreadable: {exc.strerror}"
            return PhotoRef(rel, path, 0, 0.0, problem=reason)
        if not path.is_file():
            return PhotoRef(rel, path, 0, st.st_mtime, problem="not a regular file")
        return PhotoRef(rel, path, st.st_size, st.st_mtime)

    def _problem(self, path: Path, reason: str) -> PhotoRef:
        rel = path.relative_to(self.root).as_posix()
        return PhotoRef(rel + "/", path, 0, 0.0, problem=reason)

    # -- write-back -----------------------------------------------------------------

    def sidecar_for(self, photo: Path) -> Path:
        """``FILE.EXT.xmp``, unless only the ``FILE.xmp`` form already exists."""
        long_form = photo.with_name(photo.name + ".xmp")
        short_form = photo.with_suffix(".xmp")
        return short_form if short_form.exists() and not long_form.exists() else long_form

    def write_keywords(self, keywords: Mapping[str, Collection[str]], dry_run: bool
                       ) -> WriteReport:
        report = WriteReport(dry_run=dry_run)
        journal = Journal(self.state_dir)
        with Sidecars() as sidecars:
            for stable_id, words in sorted(keywords.items()):
                photo = self.path_of(stable_id)
                sidecar = self.sidecar_for(photo)
                try:
                    self._add_to_sidecar(sidecars, journal, sidecar, words, report)
                except (SidecarError, OSError) as exc:
                    report.errors.append(f"{stable_id}: {exc}")
        return report

    def _add_to_sidecar(self, sidecars: Sidecars, journal: Journal, sidecar: Path,
                        words: Collection[str], report: WriteReport) -> None:
        current = sidecars.read(sidecar)
        add: dict[str, list[str]] = {f: [] for f in FIELDS}
        for word in sorted(set(words)):
            for name, value in field_values(word).items():
                if value not in current[name] and value not in add[name]:
                    add[name].append(value)
        if not any(add.values()):
            return
        rel = sidecar.relative_to(self.root).as_posix()
        report.changes.append(f"{rel}: + " + ", ".join(add["XMP-digiKam:TagsList"]
                                                        or add["XMP-dc:Subject"]))
        if report.dry_run:
            return
        entry = journal.sidecars.get(rel)
        if entry is None:
            existed = sidecar.exists()
            original = journal.keep_original(sidecar, sha256(sidecar)) if existed else None
            entry = SidecarEntry(created=not existed, original=original, written=None)
            journal.sidecars[rel] = entry
        for name, values in add.items():
            entry.added.setdefault(name, []).extend(values)
        journal.save()  # before the write: a crash leaves a record, never an unrecorded change
        sidecars.edit(sidecar, add, {})
        entry.written = sha256(sidecar)
        journal.save()

    def write_albums(self, albums: Mapping[str, Collection[str]], dry_run: bool
                     ) -> WriteReport:
        report = WriteReport(dry_run=dry_run)
        journal = Journal(self.state_dir)
        for name, members in sorted(albums.items()):
            folder = self.state_dir / "albums" / album_dirname(name)
            wanted = {link_name(sid): self.path_of(sid) for sid in members}
            present = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
            for stale in sorted(present - wanted.keys()):
                report.changes.append(f"album {name}: - {stale}")
                if not dry_run:
                    (folder / stale).unlink()
            for link in sorted(wanted.keys() - present):
                report.changes.append(f"album {name}: + {link}")
                if not dry_run:
                    folder.mkdir(parents=True, exist_ok=True)
                    journal.albums.add(folder.name)
                    journal.save()
                    os.symlink(os.path.relpath(wanted[link], folder), folder / link)
        return report

    def undo(self, dry_run: bool) -> WriteReport:
        report = WriteReport(dry_run=dry_run)
        journal = Journal(self.state_dir)
        with Sidecars() as sidecars:
            for rel, entry in sorted(journal.sidecars.items()):
                try:
                    self._undo_sidecar(sidecars, journal, self.root / rel, entry, report)
                except (SidecarError, OSError) as exc:
                    report.errors.append(f"{rel}: {exc}")
        for album in sorted(journal.albums):
            report.changes.append(f"remove album {album}")
            if not dry_run:
                shutil.rmtree(self.state_dir / "albums" / album, ignore_errors=True)
        if not dry_run and not report.errors:
            journal.clear()
            for leftover in (self.state_dir / "albums", self.state_dir):
                if leftover.is_dir() and not any(leftover.iterdir()):
                    leftover.rmdir()
        return report

    def _undo_sidecar(self, sidecars: Sidecars, journal: Journal, sidecar: Path,
                      entry: SidecarEntry, report: WriteReport) -> None:
        rel = sidecar.relative_to(self.root).as_posix()
        if not sidecar.exists():
            return
        untouched_since = entry.written is not None and sha256(sidecar) == entry.written
        if untouched_since and entry.created:
            report.changes.append(f"{rel}: delete (photoplug created it)")
            if not report.dry_run:
                sidecar.unlink()
        elif untouched_since and entry.original:
            report.changes.append(f"{rel}: restore the original")
            if not report.dry_run:
                tmp = sidecar.with_name(f".{os.getpid()}.photoplug-tmp.xmp")
                shutil.copyfile(journal.original_path(entry.original), tmp)
                os.replace(tmp, sidecar)
        else:  # edited since: take out only what photoplug added
            current = sidecars.read(sidecar)
            remove = {f: [v for v in vals if v in current.get(f, [])]
                      for f, vals in entry.added.items()}
            if any(remove.values()):
                report.changes.append(f"{rel}: - " + ", ".join(sorted(
                    {v for vals in remove.values() for v in vals})))
                if not report.dry_run:
                    sidecars.edit(sidecar, {}, remove)


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


@hookimpl
def photoplug_write_keywords(library: Any, keywords: Mapping[str, Collection[str]],
                             dry_run: bool) -> WriteReport | None:
    return library.write_keywords(keywords, dry_run) if isinstance(library, FolderLibrary) \
        else None


@hookimpl
def photoplug_write_albums(library: Any, albums: Mapping[str, Collection[str]],
                           dry_run: bool) -> WriteReport | None:
    return library.write_albums(albums, dry_run) if isinstance(library, FolderLibrary) else None


@hookimpl
def photoplug_undo(library: Any, dry_run: bool) -> WriteReport | None:
    return library.undo(dry_run) if isinstance(library, FolderLibrary) else None
