"""digiKam's pick labels, as digiKam keeps them: each an internal tag (``Pick Label
None``, ``Rejected``, ``Pending``, ``Accepted`` under ``_Digikam_Internal_Tags_``, with the
property ``internalTag``) linked to the image, at most one per image."""
from __future__ import annotations

import sqlite3
from typing import Iterable

INTERNAL_ROOT = "_Digikam_Internal_Tags_"
PICK_LABEL = "Pick Label "  # + None, Rejected, Pending, Accepted
REJECTED = PICK_LABEL + "Rejected"


def pick_labels(db: sqlite3.Connection, image_ids: Iterable[int]) -> dict[int, str]:
    """Each of these images' pick label (the tag's name), for those that have one."""
    ids, out = sorted(set(image_ids)), {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        out.update(db.execute(
            "SELECT it.imageid, t.name FROM ImageTags it JOIN Tags t ON t.id = it.tagid "
            "JOIN Tags root ON root.id = t.pid AND root.pid = 0 WHERE root.name = ? AND "
            f"substr(t.name, 1, ?) = ? AND it.imageid IN ({','.join('?' * len(chunk))})",
            (INTERNAL_ROOT, len(PICK_LABEL), PICK_LABEL, *chunk)))
    return out


def _internal_tag(db: sqlite3.Connection, name: str) -> int:
    """The internal tag ``name``, created as digiKam creates its own where it is missing."""
    pid = 0
    for level in (INTERNAL_ROOT, name):
        row = db.execute("SELECT id FROM Tags WHERE pid=? AND name=?", (pid, level)).fetchone()
        if row is None:
            row = (db.execute("INSERT INTO Tags (pid, name) VALUES (?, ?)",
                              (pid, level)).lastrowid,)
            db.execute("INSERT INTO TagProperties (tagid, property, value) VALUES "
                       "(?, 'internalTag', NULL)", row)
        pid = row[0]
    return pid


def set_pick_labels(db: sqlite3.Connection, labels: dict[int, str | None]) -> None:
    """Give each image the pick label named (None: none at all), replacing the one it has."""
    have = pick_labels(db, labels)
    for image_id, label in sorted(labels.items(), key=lambda kv: kv[0]):
        if have.get(image_id) == label:
            continue
        db.execute("DELETE FROM ImageTags WHERE imageid = ? AND tagid IN (SELECT t.id FROM "
                   "Tags t JOIN Tags root ON root.id = t.pid AND root.pid = 0 WHERE "
                   "root.name = ? AND substr(t.name, 1, ?) = ?)",
                   (image_id, INTERNAL_ROOT, len(PICK_LABEL), PICK_LABEL))
        if label is not None:
            db.execute("INSERT INTO ImageTags (imageid, tagid) VALUES (?, ?)",
                       (image_id, _internal_tag(db, label)))
