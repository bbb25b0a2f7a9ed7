"""What photoplug wrote into a library last time, and so what the user changed since.

Kept as JSON where the host keeps photoplug's state (``library.ledger_path``). Before a
write the ledger compares its record with what the host holds now (``HostState``):

- a photo photoplug put in an album that is no longer there was taken out by the user:
  it stays out; a photo in the album that photoplug did not put there was put in by the
  user: it stays in;
- a keyword photoplug wrote that is gone was taken off by the user: it is never written
  to that photo again; a photoplug keyword photoplug did not write is the user's own and
  is never taken off.

A write is recorded in two steps: the intended record is saved as *pending* before the
host is touched, and replaced by what the host holds afterwards. A run killed between the
two leaves the pending record: the photos it would have changed are then ambiguous, and
no correction is read from them.
"""
from __future__ import annotations

from contextlib import suppress
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Collection, Mapping

from photoplug.errors import PhotoplugError
from photoplug.hooks import HostState

VERSION = 1


@dataclass
class AlbumRecord:
    written: set[str] = field(default_factory=set)  # the album's members after the last write
    taken_out: set[str] = field(default_factory=set)  # by the user; never put back
    put_in: set[str] = field(default_factory=set)  # by the user; never taken out


@dataclass
class KeywordRecord:
    auto: set[str] = field(default_factory=set)  # written by `tag`: re-tagging may take it off
    explicit: set[str] = field(default_factory=set)  # written on request (search --add-keyword)
    taken_off: set[str] = field(default_factory=set)  # by the user; never written again
    put_on: set[str] = field(default_factory=set)  # by the user (photoplug's namespace)

    @property
    def written(self) -> set[str]:
        return self.auto | self.explicit


def _sets(data: Mapping[str, Any], cls: type) -> Any:
    return cls(**{k: set(map(str, v)) for k, v in data.items()})


class Ledger:
    """The record for one library: albums and keywords, by the host's stable ids."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pending_path = path.with_name(path.name + ".pending")
        self.albums: dict[str, AlbumRecord] = {}
        self.keywords: dict[str, KeywordRecord] = {}
        self._pending: Ledger | None = None
        self.newly_taken_off: dict[str, set[str]] = {}  # by ``observe``: keyword -> ids

    @classmethod
    def load(cls, path: Path) -> Ledger:
        """The ledger at ``path`` (empty if none), with an unfinished write's record."""
        ledger = cls(path)
        ledger._read(path)
        if ledger.pending_path.exists():
            ledger._pending = cls(path)
            ledger._pending._read(ledger.pending_path)
        return ledger

    def _read(self, path: Path) -> None:
        if not path.exists():
            return
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("version") != VERSION:
                raise ValueError(f"unknown version {data.get('version')!r}")
            self.albums = {k: _sets(v, AlbumRecord) for k, v in data["albums"].items()}
            self.keywords = {k: _sets(v, KeywordRecord) for k, v in data["keywords"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise PhotoplugError(f"{path}: photoplug's record of its writes is unreadable "
                                 f"({exc}); nothing was written. Move it aside to start "
                                 f"afresh (your corrections are then forgotten)") from None

    # -- reading the user's corrections ------------------------------------------------

    def expected(self) -> HostState:
        """What the host should hold of photoplug's, by this record (and a pending one)."""
        sources = [self] + ([self._pending] if self._pending else [])
        albums: dict[str, set[str]] = {}
        keywords: dict[str, set[str]] = {}
        for ledger in sources:
            for name, record in ledger.albums.items():
                albums.setdefault(name, set()).update(record.written)
            for word, kw in ledger.keywords.items():
                keywords.setdefault(word, set()).update(kw.written | kw.put_on)
        return HostState(albums, keywords)

    def observe(self, now: HostState) -> None:
        """Turn the differences between the record and the host into corrections."""
        pending, self._pending = self._pending, None
        for name, record in self.albums.items():
            written = record.written
            if pending and name in pending.albums:
                written = _settled(written, pending.albums[name].written, now.albums.get(name))
            here = now.albums.get(name, set())
            gone, new = written - here, here - written
            record.taken_out = (record.taken_out | gone) - new
            record.put_in = (record.put_in | new) - gone
        for word, kw in self.keywords.items():
            written = kw.written
            if pending and word in pending.keywords:
                written = _settled(written, pending.keywords[word].written,
                                   now.keywords.get(word))
            here = now.keywords.get(word, set())
            gone, new = written - here, here - written - kw.put_on
            if gone:
                self.newly_taken_off[word] = gone
            kw.taken_off = (kw.taken_off | gone) - here
            kw.put_on = (kw.put_on | new) - gone
            kw.auto &= here
            kw.explicit &= here
        if pending:  # albums and keywords a killed run was about to write for the first time
            for name, record in pending.albums.items():
                self.albums.setdefault(name, AlbumRecord())
            for word in pending.keywords:
                self.keywords.setdefault(word, KeywordRecord())

    def reset(self, album: str) -> None:
        """Forget the user's corrections to one album."""
        record = self.albums.get(album)
        if record:
            record.taken_out, record.put_in = set(), set()

    # -- recording a write -----------------------------------------------------------

    def begin(self, albums: Mapping[str, Collection[str]],
              auto: Mapping[str, Collection[str]] | None,
              explicit: Mapping[str, Collection[str]]) -> None:
        """Save the record this write intends, as pending, before the host changes."""
        planned = self._copy()
        planned._apply(albums, auto, explicit)
        planned._save(self.pending_path)

    def commit(self, albums: Mapping[str, Collection[str]],
               auto: Mapping[str, Collection[str]] | None,
               explicit: Mapping[str, Collection[str]], after: HostState) -> None:
        """Record what the host holds after the write and drop the pending record."""
        self._apply(albums, auto, explicit)
        for name in albums:
            self.albums[name].written = set(after.albums.get(name, set()))
        for word, kw in self.keywords.items():
            here = after.keywords.get(word, set())
            kw.auto &= here
            kw.explicit &= here
        self._save(self.path)
        self.pending_path.unlink(missing_ok=True)

    def _apply(self, albums: Mapping[str, Collection[str]],
               auto: Mapping[str, Collection[str]] | None,
               explicit: Mapping[str, Collection[str]]) -> None:
        for name, members in albums.items():
            self.albums.setdefault(name, AlbumRecord()).written = set(members)
        if auto is not None:  # a complete auto-tagging: it replaces the previous one
            for kw in self.keywords.values():
                kw.auto = set()
            for word, ids in auto.items():
                self.keywords.setdefault(word, KeywordRecord()).auto = set(ids)
        for word, ids in explicit.items():
            self.keywords.setdefault(word, KeywordRecord()).explicit |= set(ids)

    def _copy(self) -> Ledger:
        copy = Ledger(self.path)
        copy.albums = {k: AlbumRecord(set(v.written), set(v.taken_out), set(v.put_in))
                       for k, v in self.albums.items()}
        copy.keywords = {k: KeywordRecord(set(v.auto), set(v.explicit), set(v.taken_off),
                                          set(v.put_on)) for k, v in self.keywords.items()}
        return copy

    def _save(self, path: Path) -> None:
        data = {"version": VERSION,
                "albums": {k: {f: sorted(getattr(v, f)) for f in
                               ("written", "taken_out", "put_in")}
                           for k, v in sorted(self.albums.items())},
                "keywords": {k: {f: sorted(getattr(v, f)) for f in
                                 ("auto", "explicit", "taken_off", "put_on")}
                             for k, v in sorted(self.keywords.items())}}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)

    def forget(self) -> None:
        """Delete the record (after an undo), and its folder if nothing else is in it."""
        self.path.unlink(missing_ok=True)
        self.pending_path.unlink(missing_ok=True)
        with suppress(OSError):
            self.path.parent.rmdir()


def _settled(before: set[str], planned: set[str], here: set[str] | None) -> set[str]:
    """What photoplug may be taken to have written when a run died mid-write: where the
    two records disagree, the host's current state."""
    unsure = before ^ planned
    return (before - unsure) | (unsure & (here or set()))
