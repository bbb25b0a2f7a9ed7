"""Whether a darktable has a library open: its lock files, on Linux, macOS and Windows.

darktable writes its process id (and a NUL) into ``library.db.lock`` (beside the library) and
``data.db.lock`` (beside ``data.db``) when it opens them and deletes both when it quits.
A lock whose process is gone is left by a darktable that crashed (darktable itself takes
such a lock over); one whose process is something else than darktable is stale too (its
id was reused). A process photoplug may not look at is taken to be darktable.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import psutil


@dataclass(frozen=True)
class Running:
    """A darktable process holding a database, and the lock file that says so."""

    pid: int
    lock: Path

    def __str__(self) -> str:
        return f"darktable (pid {self.pid}) has {self.lock.with_suffix('')} open"


def _holder(lock: Path) -> int | None:
    """The live darktable process named in ``lock``, if any."""
    try:
        found = re.match(rb"\s*(\d+)", lock.read_bytes())  # darktable ends it with a NUL
    except OSError:
        return None
    if found is None:
        return None
    pid = int(found.group(1))
    try:
        name = psutil.Process(pid).name()
    except psutil.NoSuchProcess:
        return None
    except psutil.AccessDenied:
        return pid
    return pid if name.casefold().startswith("darktable") else None


def darktable_using(databases: Iterable[Path]) -> Running | None:
    """A running darktable that holds one of ``databases`` (by its lock file), or None."""
    for db in databases:
        lock = db.with_name(db.name + ".lock")
        pid = _holder(lock)
        if pid is not None:
            return Running(pid, lock)
    return None
