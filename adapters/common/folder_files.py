"""Files on disk as a host lists them: walking a folder, a file as a ``PhotoRef``, the
keywords its sidecar holds, and narrowing by subfolder and date. Shared by the folder and
Apple-export hosts."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from photoplug.adapters.common.sidecars import SidecarKeywords
from photoplug.hooks import HostState, PhotoRef, WriteReport


def merge(report: WriteReport, other: WriteReport) -> None:
    """Add ``other``'s changes, errors and notes to ``report``."""
    report.changes += other.changes
    report.errors += other.errors
    report.notes += other.notes


def keywords_present(sidecars: SidecarKeywords, expected: HostState,
                     path_of: Callable[[str], Path]) -> dict[str, set[str]]:
    """For each expected keyword, the photos whose sidecar holds it now."""
    wanted: dict[str, set[str]] = {}
    for word, ids in expected.keywords.items():
        for sid in ids:
            wanted.setdefault(sid, set()).add(word)
    present = sidecars.present({sid: (path_of(sid), words) for sid, words in wanted.items()})
    return {word: {sid for sid in ids if word in present.get(sid, set())}
            for word, ids in expected.keywords.items()}


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
