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
import time
from pathlib import Path
from typing import Any, Callable, Collection, Iterable, Iterator, Mapping

from photoplug.adapters.journal import Journal
from photoplug.adapters.sidecars import SidecarKeywords
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
        """Every photo file; symbolic links followed, loops and repeats visited once."""
        for path, rel, problem in walk_files(self.root, self._excluded):
            if problem:
                yield PhotoRef(rel + "/", path, 0, 0.0, problem=problem)
            elif path.suffix.lower() in PHOTO_SUFFIXES:
                yield photo_ref(path, rel)

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

    def write_keywords(self, keywords: Mapping[str, Collection[str]], dry_run: bool
                       ) -> WriteReport:
        return self.sidecars.add(
            {stable_id: (self.path_of(stable_id), words) for stable_id, words in
             keywords.items()}, dry_run)

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
        report = self.sidecars.undo(dry_run)
        journal = Journal(self.state_dir)
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


def walk_files(root: Path, excluded: Callable[[str, str], bool]
               ) -> Iterator[tuple[Path, str, str | None]]:
    """``(path, relative path, problem)`` for every file under ``root`` that ``excluded(rel,
    name)`` keeps, in a stable order; symbolic links followed, loops visited once. A folder
    that cannot be read comes out with its problem and the walk goes on."""
    seen_dirs: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            st = folder.stat()
            if (st.st_dev, st.st_ino) in seen_dirs:
                continue
            seen_dirs.add((st.st_dev, st.st_ino))
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            yield folder, folder.relative_to(root).as_posix(), \
                f"folder unreadable: {exc.strerror or exc}"
            continue
        for entry in entries:
            rel = Path(entry.path).relative_to(root).as_posix()
            if excluded(rel, entry.name):
                continue
            try:
                if entry.is_dir(follow_symlinks=True):
                    stack.append(Path(entry.path))
                    continue
            except OSError:
                pass
            yield Path(entry.path), rel, None


def select_in_folder(root: Path, refs: Iterable[PhotoRef], album: str | None,
                     since: str | None, until: str | None) -> set[str]:
    """Stable ids of the readable photos whose file lies in subfolder ``album`` of ``root``
    and was modified between ``since`` and ``until`` (YYYY-MM-DD, inclusive)."""
    prefix = album.strip("/") + "/" if album and album.strip("/") else ""
    out = set()
    for ref in refs:
        if ref.problem or not ref.path.relative_to(root).as_posix().startswith(prefix):
            continue
        day = time.strftime("%Y-%m-%d", time.localtime(ref.mtime))
        if (since and day < since) or (until and day > until):
            continue
        out.add(ref.stable_id)
    return out


def photo_ref(path: Path, stable_id: str, host_ref: dict[str, Any] | None = None
              ) -> PhotoRef:
    """A file as a PhotoRef, with the reason it cannot be read when it cannot."""
    try:
        st = path.stat()
    except OSError as exc:
        reason = "broken symbolic link" if path.is_symlink() else f"unreadable: {exc.strerror}"
        return PhotoRef(stable_id, path, 0, 0.0, host_ref or {}, problem=reason)
    if not path.is_file():
        return PhotoRef(stable_id, path, 0, st.st_mtime, host_ref or {},
                        problem="not a regular file")
    return PhotoRef(stable_id, path, st.st_size, st.st_mtime, host_ref or {})


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
