"""``duplicates``, the use case the CLI and the page share: measure the looks not measured
yet, group the library's photos by shot, suggest the copy to keep, and on request write
the groups back as keywords.

Each group is the keyword ``duplicates/group-HASH`` (HASH: the start of the content hash
of the group's first indexed photo, so a group keeps its name as photos join it), the
copy to keep also ``duplicates/suggested-keep``; the host puts them under photoplug's
namespace. A re-run replaces photoplug's earlier duplicates keywords; a keyword the user
took off a photo stays off. Nothing is deleted or moved, and no rating or label touched
unless asked: ``mark_others`` marks the other copies rejected (digiKam's pick label,
darktable's reject); ``undo`` gives each photo the mark it had, unless the user changed it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from photoplug.albums.writeback import WriteBack
from photoplug.duplicates.best_copy import Copy, best_copy
from photoplug.duplicates.grouping import ShotCheck, group
from photoplug.duplicates.looks import LookStore
from photoplug.errors import PhotoplugError
from photoplug.hooks import Library, WriteOptions, WriteReport
from photoplug.hooks.protocols import Rejecting
from photoplug.media.formats import is_video

PREFIX = "duplicates/"
KEEP = PREFIX + "suggested-keep"


@dataclass
class Member:
    """One photo of a group: its host id and the copy it is judged as."""

    id: str
    location: str
    copy: Copy


@dataclass
class Group:
    """One shot's photos, the keyword they get, and the one to keep and why."""

    keyword: str
    members: list[Member]
    keep: int
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {"group": self.keyword, "reason": self.reason, "members": [
            {"path": str(m.copy.path), "id": m.id, "location": m.location,
             "keep": n == self.keep, "width": m.copy.look.width,
             "height": m.copy.look.height, "bytes": m.copy.size,
             "sharpness": round(m.copy.look.sharpness, 2),
             "clipped": round(m.copy.look.clipped, 4)}
            for n, m in enumerate(self.members)]}


@dataclass
class Duplicates:
    """What ``find_duplicates`` found; ``write`` records it in the host."""

    groups: list[Group]
    photos: int  # photos looked at
    measured: int  # of them, looks measured in this run
    skipped: list[tuple[str, str]]  # (path, reason) of photos that could not be read
    seconds: float
    writeback: WriteBack = field(repr=False)
    mark_others: bool = False  # the copies not suggested to keep are marked rejected

    def keywords(self) -> dict[str, set[str]]:
        """Keyword -> the stable ids that get it."""
        out: dict[str, set[str]] = {}
        for g in self.groups:
            out[g.keyword] = {m.id for m in g.members}
            out.setdefault(KEEP, set()).add(g.members[g.keep].id)
        return out

    def others(self) -> set[str]:
        """The stable ids of every copy not suggested to keep."""
        return {m.id for g in self.groups for n, m in enumerate(g.members) if n != g.keep}

    def write(self) -> WriteReport:
        """Every group as keywords, in one write (the user's corrections win); photoplug's
        earlier duplicates keywords the groups do not repeat come off in it; with
        ``mark_others`` the other copies are marked rejected in the same write."""
        return self.writeback.write(explicit=self.keywords(), replaces=PREFIX,
                                    reject=self.others() if self.mark_others else ())


def find_duplicates(app: Any, library: Library, options: WriteOptions,
                    progress: Callable[[int, int], None] | None = None,
                    mark_others: bool = False) -> Duplicates:
    """Group ``library``'s indexed photos by shot (videos aside), measuring the looks of
    photos not measured before (``progress(done, total)``); ``mark_others``: writing marks
    the copies not to keep rejected, where the host has such a mark (else refused now)."""
    if mark_others and not isinstance(library, Rejecting):
        raise PhotoplugError(f"{library.uri}: this host has no reject mark (digiKam's pick "
                             f"label and darktable's reject are)")
    started = time.perf_counter()
    _, matrix, rows = app.library_vectors(library)
    location_id = app.store.location_id(library.uri)
    indexed = {sid: (pid, h, size, mtime) for pid, sid, h, size, mtime in app.store.db.execute(
        "SELECT id, stable_id, hash, size, mtime FROM photos WHERE location_id=? AND "
        "status='ok' AND hash IS NOT NULL", (location_id,))}
    keep_rows = [n for n, r in enumerate(rows) if r[1] in indexed and not is_video(Path(r[0]))]
    rows, matrix = [rows[n] for n in keep_rows], matrix[keep_rows]
    hashes = [indexed[r[1]][1] for r in rows]
    looks, measured = LookStore(app.store).looks_of(
        {h: Path(r[0]) for h, r in zip(hashes, rows)}, progress)
    row_looks = [looks[h] for h in hashes]
    skipped = list(app.store.skipped(location_id)) + [
        (r[0], k.reason) for r, k in zip(rows, row_looks) if k.reason]
    groups = []
    for members in group(matrix, ShotCheck(row_looks)):
        first = min(members, key=lambda n: indexed[rows[n][1]][0])
        copies = [Member(rows[n][1], rows[n][2], Copy(
            Path(rows[n][0]), row_looks[n], indexed[rows[n][1]][2], indexed[rows[n][1]][3]))
            for n in members]
        keep, reason = best_copy([m.copy for m in copies])
        groups.append(Group(f"{PREFIX}group-{hashes[first][:8]}", copies, keep, reason))
    return Duplicates(groups, len(rows), measured, skipped, time.perf_counter() - started,
                      WriteBack(app, library, options), mark_others)
