"""The watcher's cycle: for every settled batch of changes, index the locations that
changed (incremental: only changed photos are read), then update smart albums and
keywords and write them to the host. A host that holds its database (digiKam open) gets
its write deferred and retried; the index and search are up to date meanwhile."""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from photoplug.errors import PhotoplugError
from photoplug.hooks import Library, LocationError, WriteOptions, WriteReport
from photoplug.hooks.protocols import roots_of
from photoplug.watch.follow import Changes, Follower
from photoplug.watch.lock import write_state

Say = Callable[[str], None]


@dataclass
class WatchOptions:
    albums: Path | None = None  # the album definitions; None or missing: no albums
    tag: bool = False  # auto-tag with ``concepts``
    concepts: list[Any] = field(default_factory=list)
    max_tags: int = 5
    debounce: float = 2.0  # s of quiet before a batch runs
    settle: float = 1.0  # s a changed file must keep its size and mtime
    poll: float | None = None  # poll every N s instead of the OS's events
    retry: float = 30.0  # s between tries of a deferred write or a failed run
    rescan: float = 60.0  # s between rescans of a location with no folders to follow
    tick: float = 0.2


@dataclass
class Location:
    library: Library
    online: bool = True
    deferred_until: float | None = None  # a host write to retry then
    failed_until: float | None = None  # an index run to retry then
    next_rescan: float | None = None
    last: dict[str, Any] = field(default_factory=dict)


class Watcher:
    def __init__(self, app: Any, libraries: list[Library], options: WatchOptions,
                 say: Say, clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.options = options
        self.say = say
        self.clock = clock
        self.locations = [Location(lib) for lib in libraries]
        self.changes = Changes(options.debounce, options.settle, clock)
        index = str(app.index_path)
        self.follower = Follower(self.changes, options.poll, ignore=[index])
        self.batches = 0
        self._albums_mtime = self._albums_signature()

    # -- the main loop ------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        for i in range(len(self.locations)):
            self._follow(i, quiet=False)
        self.cycle(list(range(len(self.locations))), "catching up")
        last_check = self.clock()
        try:
            while not stop.wait(self.options.tick):
                now = self.clock()
                if now - last_check >= max(2.0, self.options.tick):
                    last_check = now
                    self._check_roots()
                due = self._due(now)
                ready = self.changes.ready()
                if ready:
                    keys, count = ready
                    due |= keys
                    self.say(f"{count} change{'s' * (count != 1)} settled")
                if due:
                    self.cycle(sorted(due), None)
                elif self._albums_changed():
                    self.say(f"{self.options.albums} changed: updating albums")
                    for loc in self.locations:
                        if loc.online:
                            self.write_back(loc)
                    self._save()
        finally:
            self.follower.stop()

    def _due(self, now: float) -> set[int]:
        due = set()
        for i, loc in enumerate(self.locations):
            for when in (loc.deferred_until, loc.failed_until, loc.next_rescan):
                if when is not None and now >= when:
                    due.add(i)
        return due

    def _follow(self, i: int, quiet: bool = True) -> None:
        loc = self.locations[i]
        roots = roots_of(loc.library)
        for problem in self.follower.sync(i, roots):
            self.say(problem)
        if not roots and loc.next_rescan is None:
            loc.next_rescan = self.clock() + (self.options.poll or self.options.rescan)
            if not quiet:
                self.say(f"{loc.library.uri} names no folders to follow: rescanned every "
                         f"{self.options.poll or self.options.rescan:g} s")

    def _check_roots(self) -> None:
        """Notice a location that went offline (once) or came back (then index it)."""
        for i, loc in enumerate(self.locations):
            online = self._available(loc)
            if online != loc.online:
                loc.online = online
                if online:
                    self.say(f"{loc.library.uri} is back: catching up")
                    self._follow(i)
                    loc.failed_until = self.clock()
                else:
                    self.say(f"{loc.library.uri} is missing or not mounted: its photos stay "
                             f"in the index (offline); watching for it to return")
                    self.follower.sync(i, [])
                    self._mark_offline(loc)
            elif online:
                self._follow(i)

    def _available(self, loc: Location) -> bool:
        try:
            return bool(loc.library.available())
        except OSError:
            return False

    # -- one batch ----------------------------------------------------------------------

    def cycle(self, which: list[int], why: str | None) -> None:
        started = self.clock()
        for i in which:
            loc = self.locations[i]
            if loc.next_rescan is not None:
                loc.next_rescan = self.clock() + (self.options.poll or self.options.rescan)
            if not self._available(loc):
                if loc.online or why:
                    loc.online = False
                    self.say(f"{loc.library.uri} is missing or not mounted: watching for it "
                             f"to return")
                    self._mark_offline(loc)
                continue
            loc.online = True
            changed = self.index(loc, why)
            if changed is None:
                continue
            if changed or why or loc.deferred_until is not None:
                self.write_back(loc)
        self.batches += 1
        self._save(self.clock() - started)

    def index(self, loc: Location, why: str | None) -> bool | None:
        """Bring ``loc`` up to date in the index; whether anything changed (None when the
        run failed: retried later)."""
        uri = loc.library.uri
        try:
            report = self.app.index(loc.library)
        except (PhotoplugError, LocationError, OSError) as exc:
            if loc.failed_until is None:
                self.say(f"indexing {uri} failed, retrying every {self.options.retry:g} s: "
                         f"{exc}")
            loc.failed_until = self.clock() + self.options.retry
            return None
        if loc.failed_until is not None:
            loc.failed_until = None
        self.say(f"indexed {uri}{f' ({why})' if why else ''}: {report.summary()}")
        for path, reason in report.skipped:
            self.say(f"skipped {path!r}: {reason}")
        loc.last = {"total": report.total, "new": report.new, "changed": report.changed,
                    "moved": report.moved, "deleted": report.deleted,
                    "skipped": len(report.skipped), "encoded": report.encoded,
                    "online": report.online, "at": time.time()}
        return bool(report.new or report.changed or report.moved or report.deleted)

    def _mark_offline(self, loc: Location) -> None:
        try:
            if self.app.is_indexed(loc.library):
                self.app.index(loc.library)  # keeps its photos, marked offline
        except (PhotoplugError, LocationError, OSError):
            pass
        loc.last["online"] = False

    def write_back(self, loc: Location) -> None:
        """Albums (when an albums file exists) and keywords (``--tag``), written to the
        host; a host that refuses for now (``LocationError``) is tried again later."""
        from photoplug.albums.definitions import load_albums
        from photoplug.albums.workflows import auto_tag, sync_albums
        opts, uri = self.options, loc.library.uri
        albums = opts.albums if opts.albums is not None and opts.albums.exists() else None
        if albums is None and not opts.tag:
            return
        try:
            if albums is not None:
                sync = sync_albums(self.app, loc.library, load_albums(albums), opts.concepts,
                                   WriteOptions())
                self._report(uri, "albums", sync.write())
            if opts.tag:
                tags = auto_tag(self.app, loc.library, opts.concepts, opts.max_tags, False,
                                WriteOptions())
                self._report(uri, "keywords", tags.write())
        except LocationError as exc:
            if loc.deferred_until is None:
                self.say(f"writing to {uri} deferred (search is up to date), retrying every "
                         f"{opts.retry:g} s: {exc}")
            loc.deferred_until = self.clock() + opts.retry
            return
        except PhotoplugError as exc:
            self.say(f"writing to {uri} failed: {exc}")
        if loc.deferred_until is not None:
            self.say(f"wrote the deferred albums and keywords to {uri}")
            loc.deferred_until = None

    def _report(self, uri: str, what: str, report: WriteReport) -> None:
        n = len(report.changes)
        self.say(f"{what} of {uri}: {n} change{'s' * (n != 1)}"
                 + "".join(f"; error: {e}" for e in report.errors))

    # -- the albums file, the state file --------------------------------------------------

    def _albums_signature(self) -> tuple[int, int] | None:
        path = self.options.albums
        try:
            st = path.stat() if path is not None else None
        except OSError:
            return None
        return (st.st_size, st.st_mtime_ns) if st else None

    def _albums_changed(self) -> bool:
        sig = self._albums_signature()
        if sig == self._albums_mtime:
            return False
        self._albums_mtime = sig
        return sig is not None

    def _save(self, seconds: float = 0.0) -> None:
        write_state(self.app.index_path, {
            "pid": os.getpid(), "caught_up_at": time.time(), "batches": self.batches,
            "seconds": round(seconds, 3),
            "deferred": [loc.library.uri for loc in self.locations
                         if loc.deferred_until is not None],
            "locations": {loc.library.uri: loc.last for loc in self.locations}})
