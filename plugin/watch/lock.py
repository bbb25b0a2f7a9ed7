"""One watcher per index: a lock file beside the index holding the watcher's pid, and a
small state file the watcher rewrites after each batch (what ``status`` shows)."""
from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any, IO

from photoplug.errors import PhotoplugError


def lock_path(index: Path) -> Path:
    return index.with_name(index.name + ".watch.lock")


def state_path(index: Path) -> Path:
    return index.with_name(index.name + ".watch.json")


class WatchLock:
    """Held (``fcntl.flock``, non-blocking) for as long as the watcher runs; the kernel
    lets it go when the process ends, however it ends."""

    def __init__(self, index: Path) -> None:
        self.path = lock_path(index)
        self.index = index
        self._handle: IO[str] | None = None

    def acquire(self) -> "WatchLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            pid = handle.read().strip() or "?"
            handle.close()
            raise PhotoplugError(f"a watcher (pid {pid}) already follows the index "
                                 f"{self.index}; stop it first") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def __enter__(self) -> "WatchLock":
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def running_watcher(index: Path) -> int | None:
    """The pid of the watcher that holds ``index``'s lock, or None when none runs."""
    path = lock_path(index)
    if not path.exists():
        return None
    with open(path) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = handle.read().strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


def write_state(index: Path, state: dict[str, Any]) -> None:
    """Replace the state file whole (a reader never sees half of it)."""
    path = state_path(index)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state, indent=1))
    tmp.replace(path)


def read_state(index: Path) -> dict[str, Any] | None:
    try:
        return json.loads(state_path(index).read_text())
    except (OSError, ValueError):
        return None


def watcher_summary(index: Path) -> str:
    """One line for ``status``: whether a watcher runs and when it last caught up."""
    pid = running_watcher(index)
    state = read_state(index) or {}
    when = state.get("caught_up_at")
    caught = (f"last caught up {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(when))}"
              if when else "never caught up")
    deferred = state.get("deferred") or []
    later = f"; host writes deferred for {', '.join(deferred)}" if deferred and pid else ""
    return (f"watcher: running (pid {pid}), {caught}{later}" if pid
            else f"watcher: not running ({caught})")
