"""The text in photos as the index keeps it (schema 6: ``texts`` and its FTS5 table
``texts_fts``): keyed by content hash like the vectors, so a moved or duplicated photo is
never read twice, a changed one is read again and a deleted one's text leaves with it
(``IndexStore._drop_orphans``).

A row says what the reader ``engine`` made of a photo: ``text`` (its lines), ``none``,
``gated`` (the CLIP gate judged it has no text: not read) or ``failed`` (with the reason).
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from photoplug.index.store import IndexStore

STATES = ("text", "none", "gated", "failed")


@dataclass(frozen=True)
class TextHit:
    """A photo whose text matched a query: its row, its text, and whether it matched as
    the query's whole phrase."""

    photo_id: int
    path: str
    stable_id: str
    location: str
    host_ref: dict[str, Any]
    text: str
    phrase: bool


def pending(store: IndexStore, location_id: int, engine: str) -> list[tuple[str, str]]:
    """(hash, path) of the location's photos that ``engine`` has not read yet, one per
    content, in hash order (a random order: its first photos are a fair sample)."""
    return store.db.execute("""
        SELECT p.hash, min(p.path) FROM photos p
        WHERE p.location_id=? AND p.status='ok' AND p.hash IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM texts t WHERE t.hash=p.hash AND t.engine=?)
        GROUP BY p.hash ORDER BY p.hash""", (location_id, engine)).fetchall()


def put(db: sqlite3.Connection, hash_: str, engine: str, state: str, lines: Sequence[str] = (),
        sample: bool = False, reason: str | None = None) -> None:
    """Record what ``engine`` made of the photo with content ``hash_``."""
    from photoplug.text.query import cjk_spaced
    text = "\n".join(lines)
    db.execute("""
        INSERT INTO texts(hash, engine, state, sample, reason, text, tokens)
        VALUES (?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT(hash) DO UPDATE SET engine=excluded.engine, state=excluded.state,
            sample=excluded.sample, reason=excluded.reason, text=excluded.text,
            tokens=excluded.tokens""",
               (hash_, engine, state, int(sample), reason, text, cjk_spaced(text)))


def sample(store: IndexStore, engine: str) -> list[tuple[str, str]]:
    """(hash, text) of the photos read whatever the gate said (the gate's measure)."""
    return store.db.execute("SELECT hash, text FROM texts WHERE engine=? AND sample=1 AND "
                            "state IN ('text', 'none')", (engine,)).fetchall()


def vectors(store: IndexStore, model_id: int, hashes: Sequence[str], dim: int
            ) -> dict[str, np.ndarray]:
    """The image vectors (float32) of these contents by ``model_id``."""
    found: dict[str, np.ndarray] = {}
    for i in range(0, len(hashes), 500):
        chunk = list(hashes[i:i + 500])
        for h, blob in store.db.execute(
                f"SELECT hash, vector FROM embeddings WHERE model_id=? AND hash IN "
                f"({','.join('?' * len(chunk))})", (model_id, *chunk)):
            found[h] = np.frombuffer(blob, dtype=np.float16).reshape(dim).astype(np.float32)
    return found


def counts(store: IndexStore, location_id: int) -> dict[str, int]:
    """How many of the location's photos are in each state (``read``: text or none)."""
    rows = dict(store.db.execute("""
        SELECT t.state, count(*) FROM photos p JOIN texts t ON t.hash=p.hash
        WHERE p.location_id=? AND p.status='ok' GROUP BY t.state""", (location_id,)))
    out = {state: rows.get(state, 0) for state in STATES}
    out["read"] = out["text"] + out["none"]
    return out


def failures(store: IndexStore, location_id: int) -> list[tuple[str, str]]:
    """(path, reason) of the location's photos the reader failed on."""
    return store.db.execute("""
        SELECT p.path, t.reason FROM photos p JOIN texts t ON t.hash=p.hash
        WHERE p.location_id=? AND t.state='failed' ORDER BY p.path""",
                            (location_id,)).fetchall()


def search(store: IndexStore, match: str, phrase: str | None, location_ids: Iterable[int],
           limit: int) -> list[tuple[int, int, bool]]:
    """(photo id, text id, matches ``phrase``) of up to ``limit`` photos of these locations
    whose text matches the FTS5 query ``match``, in no particular order: the caller ranks
    them (bm25 over thousands of hits costs tens of milliseconds) and asks ``details``
    for the few it shows. CROSS JOIN keeps SQLite's join order, the text index first
    (else it may walk every photo of the location: seconds at 100k)."""
    ids = list(location_ids)
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    first = ("(f.rowid IN (SELECT rowid FROM texts_fts WHERE texts_fts MATCH ?))"
             if phrase else "0")
    args = ([phrase] if phrase else []) + [match, *ids, limit]
    try:
        rows = store.db.execute(f"""
            SELECT p.id, t.id, {first} FROM texts_fts f CROSS JOIN texts t ON t.id = f.rowid
            CROSS JOIN photos p ON p.hash = t.hash AND p.status = 'ok'
            WHERE texts_fts MATCH ? AND p.location_id IN ({marks}) LIMIT ?""",
                                args).fetchall()
    except sqlite3.OperationalError:  # no such table: an index a newer schema never saw
        return []
    return [(r[0], r[1], bool(r[2])) for r in rows]


def details(store: IndexStore, found: Sequence[tuple[int, int, bool]]) -> list[TextHit]:
    """``search``'s hits as ``TextHit``s, in the order given (deleted since: left out)."""
    rows = {}
    for photo_id, text_id, _ in found:
        row = store.db.execute("""
            SELECT p.path, p.stable_id, l.uri, p.host_ref, t.text FROM photos p
            JOIN locations l ON l.id = p.location_id, texts t WHERE p.id=? AND t.id=?""",
                               (photo_id, text_id)).fetchone()
        if row:
            rows[photo_id] = row
    return [TextHit(pid, *rows[pid][:3], json.loads(rows[pid][3]), rows[pid][4], phrase)
            for pid, _, phrase in found if pid in rows]
