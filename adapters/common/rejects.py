"""Photos photoplug marked rejected in a host (``duplicates --mark-others rejected``), so
``undo`` gives each back exactly the mark it had, and the user's own changes win.

A JSON file beside the host's database: stable id -> the mark the photo had before
(digiKam's pick label, or none). It is saved before the host's transaction (a run that
dies midway leaves an entry too many, never a reject undo would not know) and given back
if the transaction fails.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Collection


@dataclass
class RejectPlan:
    """What a write does with the rejects it was asked for, given the host as it is."""

    mark: dict[str, str | None] = field(default_factory=dict)  # id -> mark it had before
    kept: set[str] = field(default_factory=set)  # the user took photoplug's reject off


class Rejects:
    """``PATH`` (JSON): the photos photoplug rejected and what each had before."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.before: dict[str, str | None] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            self.before = {}

    def plan(self, wanted: Collection[str], rejected_now: Collection[str],
             marks_now: dict[str, str | None]) -> RejectPlan:
        """Reject the ``wanted`` photos not rejected now, except those photoplug rejected
        before and the user took it off since (they stay as the user left them).
        ``marks_now``: each wanted photo's present mark, recorded to give back on undo."""
        out = RejectPlan()
        for sid in sorted(set(wanted) - set(rejected_now)):
            if sid in self.before:
                out.kept.add(sid)
            else:
                out.mark[sid] = marks_now.get(sid)
        return out

    def to_give_back(self, rejected_now: Collection[str]) -> dict[str, str | None]:
        """photoplug's rejects still in place (id -> the mark to give back); one the user
        changed since is theirs."""
        return {sid: mark for sid, mark in self.before.items() if sid in set(rejected_now)}

    def add(self, marked: dict[str, str | None]) -> None:
        if marked:
            self.before.update(marked)
            self._save()

    def remove(self, ids: Collection[str]) -> None:
        if self.before.keys() & set(ids):
            for sid in ids:
                self.before.pop(sid, None)
            self._save()

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)

    def _save(self) -> None:
        if not self.before:
            self.clear()
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.before, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.path)
