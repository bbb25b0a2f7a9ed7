"""File events into settled batches: watchdog's observer (inotify on Linux, or polling
with ``--poll`` for network shares) feeds ``Changes``, which hands out a batch once the
events have been quiet for the debounce window and every changed file has kept its size
and mtime for the settle time (a file still being copied is not read half-written)."""
from __future__ import annotations

import errno
import os
import threading
import time
from pathlib import Path
from typing import Callable, Hashable, Iterable

from watchdog.events import (EVENT_TYPE_ATTRIB, EVENT_TYPE_CLOSED_NO_WRITE,
                             EVENT_TYPE_EVENTS_LOST, EVENT_TYPE_MODIFIED, EVENT_TYPE_OPENED,
                             FileSystemEvent, FileSystemEventHandler)

IGNORED = {EVENT_TYPE_OPENED, EVENT_TYPE_CLOSED_NO_WRITE, EVENT_TYPE_ATTRIB}
Signature = tuple[int, int] | None  # (size, mtime_ns), None for a path that is gone
FALLBACK_POLL = 60.0  # s between rescans of a root the system has no file watches left for


def signature(path: str) -> Signature:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


class Changes:
    """Changed paths per location, waiting to settle (thread-safe: the observer's threads
    add, the loop takes)."""

    def __init__(self, debounce: float = 2.0, settle: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.debounce = debounce
        self.settle = settle
        self.clock = clock
        self._lock = threading.Lock()
        self._pending: dict[str, set[Hashable]] = {}  # path -> locations it belongs to
        self._seen: dict[str, tuple[Signature, float]] = {}  # path -> signature, since
        self._last_event = 0.0

    def add(self, key: Hashable, path: str) -> None:
        now = self.clock()
        sig = signature(path)
        with self._lock:
            self._pending.setdefault(path, set()).add(key)
            old = self._seen.get(path)
            if old is None or old[0] != sig:
                self._seen[path] = (sig, now)
            self._last_event = now

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)

    def ready(self) -> tuple[set[Hashable], int] | None:
        """The locations changed and how many paths, once all is quiet and settled;
        None while events still come or a file still grows."""
        now = self.clock()
        with self._lock:
            if not self._pending or now - self._last_event < self.debounce:
                return None
            unsettled = False
            for path in self._pending:
                sig = signature(path)
                old = self._seen.get(path)
                if old is None or old[0] != sig:
                    self._seen[path] = (sig, now)
                    unsettled = True
                elif sig is not None and now - old[1] < self.settle:
                    unsettled = True
            if unsettled:
                return None
            keys = set().union(*self._pending.values())
            count = len(self._pending)
            self._pending.clear()
            self._seen.clear()
            return keys, count


def hidden_inside(path: str, root: Path) -> bool:
    """Whether ``path`` is, or lies in, a hidden entry under ``root`` (``.photoplug/``,
    where album folders are written, among them): not a photo the host would list."""
    try:
        rel = Path(path).relative_to(root)
    except ValueError:
        return True
    return any(part.startswith(".") for part in rel.parts)


class Handler(FileSystemEventHandler):
    """Passes one root's relevant events on to ``Changes`` under the location's key."""

    def __init__(self, changes: Changes, key: Hashable, root: Path,
                 ignore: Iterable[str] = ()) -> None:
        self.changes = changes
        self.key = key
        self.root = root
        self.ignore = tuple(ignore)

    def _wanted(self, path: str) -> bool:
        return bool(path) and not hidden_inside(path, self.root) and not (
            self.ignore and path.startswith(self.ignore))

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in IGNORED:
            return
        if event.event_type == EVENT_TYPE_EVENTS_LOST:  # the queue overflowed: rescan all
            self.changes.add(self.key, str(self.root))
            return
        if event.is_directory and event.event_type == EVENT_TYPE_MODIFIED:
            return  # its entries' own events say what changed
        for path in (event.src_path, getattr(event, "dest_path", "")):
            path = os.fsdecode(path)
            if self._wanted(path):
                self.changes.add(self.key, path)


class Follower:
    """An observer over the roots of every location; ``sync`` (re)schedules roots as
    they go offline and come back."""

    def __init__(self, changes: Changes, poll: float | None = None,
                 ignore: Iterable[str] = ()) -> None:
        from watchdog.observers import Observer
        from watchdog.observers.polling import PollingObserver
        self.changes = changes
        self.ignore = tuple(ignore)
        self.polling = poll is not None
        self.observer = PollingObserver(timeout=poll) if poll else Observer()
        self._poller: PollingObserver | None = None  # for roots past inotify's limits
        self._watches: dict[tuple[Hashable, Path], tuple[object, object]] = {}
        self.observer.daemon = True
        self.observer.start()

    def sync(self, key: Hashable, roots: Iterable[Path]) -> list[str]:
        """Follow exactly ``roots`` for ``key``; returns problems (one line each)."""
        wanted = {Path(r) for r in roots if Path(r).is_dir()}
        problems = []
        for (k, root), (observer, watch) in list(self._watches.items()):
            if k == key and (root not in wanted or not self._alive(observer, watch)):
                self._unschedule(observer, watch)
                del self._watches[(k, root)]
        for root in wanted:
            if (key, root) in self._watches:
                continue
            handler = Handler(self.changes, key, root, self.ignore)
            try:
                self._watches[(key, root)] = (self.observer, self.observer.schedule(
                    handler, str(root), recursive=True))
            except OSError as exc:  # a root gone in between, or inotify's limits
                if exc.errno not in (errno.ENOSPC, errno.EMFILE) or self.polling:
                    problems.append(f"cannot follow {root}: {exc}")
                    continue
                try:
                    poller = self._polling_observer()
                    self._watches[(key, root)] = (poller, poller.schedule(
                        handler, str(root), recursive=True))
                except OSError as again:  # out of file descriptors altogether
                    problems.append(f"cannot follow {root}: {again}")
                    continue
                problems.append(f"{root}: the system has no file watches left for it; "
                                f"rescanning it every {FALLBACK_POLL:g} s instead (raise "
                                f"fs.inotify.max_user_watches to follow it by events)")
        return problems

    def _polling_observer(self) -> object:
        """The observer that rescans roots inotify cannot watch (started when needed)."""
        if self._poller is None:
            from watchdog.observers.polling import PollingObserver
            self._poller = PollingObserver(timeout=FALLBACK_POLL)
            self._poller.daemon = True
            self._poller.start()
        return self._poller

    @staticmethod
    def _alive(observer: object, watch: object) -> bool:
        """Whether the emitter of ``watch`` still runs (inotify stops one whose root was
        deleted)."""
        emitter = getattr(observer, "_emitter_for_watch", {}).get(watch)
        return emitter is None or emitter.is_alive()

    @staticmethod
    def _unschedule(observer: object, watch: object) -> None:
        try:
            observer.unschedule(watch)  # type: ignore[attr-defined]
        except (KeyError, OSError):
            pass

    def stop(self) -> None:
        for observer in (self.observer, self._poller):
            if observer is not None:
                observer.stop()
                observer.join(timeout=5)
