"""One command's write-back to one library, with the user's corrections winning.

Before anything is decided, the host is read (``photoplug_read_back``) and compared with
photoplug's ledger of its last write: what the user took out, put in or took off since.
Membership then treats those as examples, and this module applies them as hard rules:
an album never gets back a photo the user took out, never loses one the user put in;
a keyword is never written again to a photo the user took it off. Everything the
command wants is then written as one plan (one transaction, one backup), and the
ledger records what the host holds afterwards.
"""
from __future__ import annotations

from typing import Any, Collection, Mapping, Sequence

from photoplug.hooks import Library, WriteOptions, WritePlan, WriteReport
from photoplug.hooks.protocols import Corrected
from photoplug.albums.ledger import Ledger
from photoplug.albums.membership import AlbumCorrections


class WriteBack:
    """Corrections read on creation; ``write`` applies them as ``options`` say and
    records the result."""

    def __init__(self, app: Any, library: Library, options: WriteOptions,
                 reset_albums: Collection[str] = ()) -> None:
        self.app = app
        self.library = library
        self.options = options
        self.ledger = Ledger.load(library.ledger_path) if isinstance(library, Corrected) \
            else None
        if self.ledger is not None:
            for name in reset_albums:
                self.ledger.reset(name)
            self.ledger.observe(app.read_back(library, self.ledger.expected()))

    @property
    def tracks_corrections(self) -> bool:
        return self.ledger is not None

    def album_corrections(self, name: str) -> tuple[set[str], set[str]]:
        """Stable ids the user took out of and put into album ``name``."""
        record = self.ledger.albums.get(name) if self.ledger else None
        return (set(record.taken_out), set(record.put_in)) if record else (set(), set())

    def membership_corrections(self, names: Collection[str], ids: Sequence[str]
                               ) -> dict[str, AlbumCorrections]:
        """Each album's corrections as rows of a matrix whose rows are ``ids``."""
        row_of = {sid: i for i, sid in enumerate(ids)}
        out = {}
        for name in names:
            taken_out, put_in = self.album_corrections(name)
            out[name] = AlbumCorrections(
                frozenset(row_of[s] for s in taken_out if s in row_of),
                frozenset(row_of[s] for s in put_in if s in row_of))
        return out

    def taken_off(self, keyword: str) -> set[str]:
        """Stable ids the user took photoplug's ``keyword`` off."""
        record = self.ledger.keywords.get(keyword) if self.ledger else None
        return set(record.taken_off) if record else set()

    def write(self, albums: Mapping[str, Collection[str]] | None = None,
              auto: Mapping[str, Collection[str]] | None = None,
              explicit: Mapping[str, Collection[str]] | None = None,
              replaces: str | None = None, reject: Collection[str] = ()) -> WriteReport:
        """Write albums (exact members), a complete auto-tagging (``auto``: keyword ->
        ids; photoplug's earlier auto-tags not in it come off) and requested keywords
        (``explicit``), all as one plan. ``replaces``: the requested keywords starting
        with it are a complete set; photoplug's earlier ones there, not repeated, come off
        (those the user put on stay). ``reject``: photos to mark rejected (the host keeps
        what the user changed since)."""
        plan, notes = WritePlan(reject=set(reject)), []
        for name, members in sorted((albums or {}).items()):
            taken_out, put_in = self.album_corrections(name)
            plan.albums[name] = (set(members) - taken_out) | put_in
            if taken_out:
                notes.append(f"album {name}: {len(taken_out)} photos you took out stay out")
            if put_in:
                notes.append(f"album {name}: {len(put_in)} photos you put in stay in")
        if self.ledger is not None:  # off wherever else photoplug put it (Photos' plan)
            for word, ids in self.ledger.newly_taken_off.items():
                for sid in ids:
                    plan.remove_keywords.setdefault(sid, set()).add(word)
        final_auto = self._keywords(plan, auto or {})
        final_explicit = self._keywords(plan, explicit or {})
        words = set(final_auto) | set(final_explicit)
        if auto is not None and self.ledger is not None:
            words |= set(self.ledger.keywords)
        for word in sorted(words):
            if self.taken_off(word):
                notes.append(f"keyword {word}: stays off {len(self.taken_off(word))} photos "
                             f"you took it off")
        if auto is not None and self.ledger is not None:
            for word, record in self.ledger.keywords.items():
                stale = record.auto - set(final_auto.get(word, ())) - record.explicit \
                    - set(final_explicit.get(word, ()))
                for sid in stale:
                    plan.remove_keywords.setdefault(sid, set()).add(word)
        if replaces is not None:
            self._replace(plan, replaces, final_explicit)
        report = self._apply(plan, final_auto if auto is not None else None, final_explicit)
        report.notes = notes + report.notes
        return report

    def _keywords(self, plan: WritePlan, wanted: Mapping[str, Collection[str]]
                  ) -> dict[str, set[str]]:
        """``wanted`` without the photos the user took each keyword off, added to ``plan``."""
        final: dict[str, set[str]] = {}
        for word, ids in sorted(wanted.items()):
            final[word] = set(ids) - self.taken_off(word)
            for sid in final[word]:
                plan.add_keywords.setdefault(sid, set()).add(word)
        return final

    def _replace(self, plan: WritePlan, prefix: str, explicit: dict[str, set[str]]) -> None:
        """photoplug's earlier keywords under ``prefix`` that ``explicit`` does not repeat
        come off (never from a photo the user put one on)."""
        for word, record in (self.ledger.keywords.items() if self.ledger else ()):
            if word.startswith(prefix):
                for sid in record.explicit - explicit.get(word, set()) - record.put_on:
                    plan.remove_keywords.setdefault(sid, set()).add(word)

    def _apply(self, plan: WritePlan, auto: dict[str, set[str]] | None,
               explicit: dict[str, set[str]]) -> WriteReport:
        ledger = self.ledger
        if ledger is None or self.options.dry_run:
            return self.app.write(self.library, plan, self.options)
        ledger.begin(plan.albums, auto, explicit)
        report = self.app.write(self.library, plan, self.options)
        expected = ledger.expected()
        for name, members in plan.albums.items():
            expected.albums.setdefault(name, set()).update(members)
        for written in (auto or {}, explicit):
            for word, ids in written.items():
                expected.keywords.setdefault(word, set()).update(ids)
        ledger.commit(plan.albums, auto, explicit,
                      self.app.read_back(self.library, expected))
        return report
