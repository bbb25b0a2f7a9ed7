"""photoplug's own index: one SQLite file (never the host's database).

Embeddings are keyed by (model, content hash), so a moved or duplicated photo is never
encoded twice and vectors of different models never mix. Photos are rows per location; a
video is one such row. Its frames' vectors are rows of ``frames``, keyed by (model, content
hash, seconds into the video), and its one embedding is their normalised mean: search
ranks a video by its best frame, albums and tags see that one vector.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sqlite3
import weakref
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import platformdirs

from photoplug.errors import IndexFileError
from photoplug.index.schema import migrate
from photoplug.model.spec import ModelIdentity

def default_index_path() -> Path:
    """``PHOTOPLUG_INDEX`` or the user's data dir (platformdirs)."""
    env = os.environ.get("PHOTOPLUG_INDEX")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("photoplug")) / "index.sqlite3"


@dataclass(frozen=True)
class StoredPhoto:
    """A photo row as the indexer compares it with a fresh scan."""

    id: int
    stable_id: str
    size: int
    mtime: float
    hash: str | None
    status: str
    embedded: bool


class IndexStore:
    """The SQLite index. Open read-only for search, read-write (``writer()``) for indexing."""

    def __init__(self, path: Path, create: bool = True) -> None:
        self.path = Path(path)
        self._matrices: dict[Any, Any] = {}
        self._approximate: dict[Any, Any] = {}
        if not self.path.exists() and not create:
            raise IndexFileError(f"no index at {self.path} yet: run `photoplug index LOCATION`")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                      check_same_thread=False)  # callers serialise access
            # a connection is freed only by a full garbage collection (its statement cache
            # refers back to it): closed with the store instead, its files go at once
            self._closer = weakref.finalize(self, self.db.close)
            self.db.execute("PRAGMA foreign_keys = ON")
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = NORMAL")
            migrate(self.db, self.path)
        except sqlite3.DatabaseError as exc:
            raise IndexFileError(f"{self.path} is not a usable photoplug index ({exc}); "
                              f"move it aside or pass another --index") from None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write: committed on success, rolled back on any exception."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    @contextmanager
    def writer(self) -> Iterator[IndexStore]:
        """Hold the index's write lock: a second indexing run on this file is refused."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        handle = open(lock_path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise IndexFileError(f"another photoplug run is writing {self.path}; "
                              f"wait for it to finish") from None
        try:
            yield self
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()

    def close(self) -> None:
        self._closer()

    # -- models and locations -----------------------------------------------------

    def model_id(self, name: str, pretrained: str, weights_hash: str, dim: int) -> int:
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO models(name, pretrained, weights_hash, dim) "
                       "VALUES (?, ?, ?, ?)", (name, pretrained, weights_hash, dim))
            return db.execute("SELECT id FROM models WHERE name=? AND pretrained=? AND "
                              "weights_hash=?", (name, pretrained, weights_hash)).fetchone()[0]

    def _model_row(self, name: str, pretrained: str, weights_hash: str
                   ) -> tuple[int, int] | None:
        return self.db.execute("SELECT id, dim FROM models WHERE name=? AND pretrained=? AND "
                               "weights_hash=?", (name, pretrained, weights_hash)).fetchone()

    def find_model_id(self, name: str, pretrained: str, weights_hash: str) -> int | None:
        row = self._model_row(name, pretrained, weights_hash)
        return row[0] if row else None

    def model_dim(self, name: str, pretrained: str, weights_hash: str) -> int | None:
        """The embedding size of a model the index knows, or None."""
        row = self._model_row(name, pretrained, weights_hash)
        return row[1] if row else None

    def location_id(self, uri: str) -> int | None:
        row = self.db.execute("SELECT id FROM locations WHERE uri=?", (uri,)).fetchone()
        return row[0] if row else None

    def ensure_location(self, uri: str) -> int:
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO locations(uri) VALUES (?)", (uri,))
        return self.location_id(uri)  # type: ignore[return-value]

    def set_location(self, location_id: int, **fields: Any) -> None:
        cols = ", ".join(f"{k}=?" for k in fields)
        with self.transaction() as db:
            db.execute(f"UPDATE locations SET {cols} WHERE id=?", (*fields.values(), location_id))

    def uris(self) -> list[str]:
        return [u for (u,) in self.db.execute("SELECT uri FROM locations ORDER BY uri")]

    def models_of(self, uris: list[str], upcoming: bool = False) -> set[tuple[str, str]]:
        """The (name, pretrained) each of these locations answers with; ``upcoming``: the
        one it is being re-indexed with, where it is (``model_switch``)."""
        return {(i.name, i.pretrained) for i in self.identities_of(uris, upcoming)}

    def identities_of(self, uris: list[str], upcoming: bool = False) -> set[ModelIdentity]:
        """The exact models (weights hash included) these locations answer with (or, with
        ``upcoming``, are being re-indexed with)."""
        marks = ",".join("?" * len(uris))
        model = "coalesce(l.next_model_id, l.model_id)" if upcoming else "l.model_id"
        return {ModelIdentity(*row) for row in self.db.execute(
            f"SELECT m.name, m.pretrained, m.weights_hash, m.dim FROM locations l JOIN models m"
            f" ON m.id = {model} WHERE l.uri IN ({marks})", uris)}

    def locations(self) -> list[dict[str, Any]]:
        """Every location with its model and counts (``indexed`` counts the searchable
        photos and videos, ``videos`` those of them that are videos), for ``status``."""
        rows = self.db.execute("""
            SELECT l.id, l.uri, l.online, l.indexed_at, m.name, m.pretrained, m.weights_hash,
                   l.model_id, l.next_model_id,
                   (SELECT count(*) FROM photos p WHERE p.location_id=l.id AND p.status='ok'
                      AND EXISTS (SELECT 1 FROM embeddings e
                                  WHERE e.model_id=l.model_id AND e.hash=p.hash)),
                   (SELECT count(*) FROM photos p WHERE p.location_id=l.id AND p.status='ok'
                      AND NOT EXISTS (SELECT 1 FROM embeddings e
                                      WHERE e.model_id=l.model_id AND e.hash=p.hash)),
                   (SELECT count(*) FROM photos p WHERE p.location_id=l.id
                      AND p.status='skipped'),
                   (SELECT count(*) FROM photos p WHERE p.location_id=l.id AND p.status='ok'
                      AND EXISTS (SELECT 1 FROM frames f
                                  WHERE f.model_id=l.model_id AND f.hash=p.hash))
            FROM locations l LEFT JOIN models m ON m.id = l.model_id ORDER BY l.uri""")
        return [dict(id=r[0], location=r[1], online=bool(r[2]), indexed_at=r[3],
                     model=r[4], pretrained=r[5], weights_hash=r[6], model_id=r[7],
                     next_model_id=r[8], indexed=r[9], pending=r[10], skipped=r[11],
                     videos=r[12]) for r in rows]

    def skipped(self, location_id: int) -> list[tuple[str, str]]:
        return self.db.execute("SELECT path, reason FROM photos WHERE location_id=? AND "
                               "status='skipped' ORDER BY path", (location_id,)).fetchall()

    def forget(self, location_id: int) -> int:
        """Drop a location and its photos; embeddings no photo uses any more go too."""
        with self.transaction() as db:
            count = db.execute("SELECT count(*) FROM photos WHERE location_id=?",
                               (location_id,)).fetchone()[0]
            db.execute("DELETE FROM locations WHERE id=?", (location_id,))
            self._drop_orphans(db)
        return count

    # -- photos and embeddings ----------------------------------------------------

    def photos(self, location_id: int, model_id: int) -> dict[str, StoredPhoto]:
        rows = self.db.execute("""
            SELECT p.id, p.stable_id, p.size, p.mtime, p.hash, p.status,
                   EXISTS (SELECT 1 FROM embeddings e WHERE e.model_id=? AND e.hash=p.hash)
            FROM photos p WHERE p.location_id=?""", (model_id, location_id))
        return {r[1]: StoredPhoto(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6])) for r in rows}

    def embedded_hashes(self, model_id: int, hashes: Iterable[str]) -> set[str]:
        found: set[str] = set()
        hashes = list(hashes)
        for i in range(0, len(hashes), 500):
            chunk = hashes[i:i + 500]
            found.update(h for (h,) in self.db.execute(
                f"SELECT hash FROM embeddings WHERE model_id=? AND hash IN "
                f"({','.join('?' * len(chunk))})", (model_id, *chunk)))
        return found

    def upsert_photo(self, db: sqlite3.Connection, location_id: int, stable_id: str,
                     path: str, size: int, mtime: float, hash_: str | None, status: str,
                     reason: str | None, host_ref: dict[str, Any]) -> None:
        db.execute("""
            INSERT INTO photos(location_id, stable_id, path, size, mtime, hash, status, reason,
                               host_ref)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(location_id, stable_id) DO UPDATE SET path=excluded.path,
                size=excluded.size, mtime=excluded.mtime, hash=excluded.hash,
                status=excluded.status, reason=excluded.reason, host_ref=excluded.host_ref""",
                   (location_id, stable_id, path, size, mtime, hash_, status, reason,
                    json.dumps(host_ref)))

    @staticmethod
    def put_embedding(db: sqlite3.Connection, model_id: int, hash_: str,
                      vector: np.ndarray, backend: str = "torch") -> None:
        """Store one image vector and the runtime that made it."""
        db.execute("INSERT OR REPLACE INTO embeddings(model_id, hash, vector, backend) "
                   "VALUES (?, ?, ?, ?)",
                   (model_id, hash_, vector.astype(np.float16).tobytes(), backend))

    @classmethod
    def put_video(cls, db: sqlite3.Connection, model_id: int, hash_: str,
                  times: Sequence[float], vectors: np.ndarray, backend: str) -> None:
        """Store a video's frames (seconds, vectors) and, as its embedding, their
        normalised mean."""
        mean = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).mean(axis=0)
        cls.put_embedding(db, model_id, hash_, mean / np.linalg.norm(mean), backend)
        db.execute("DELETE FROM frames WHERE model_id=? AND hash=?", (model_id, hash_))
        db.executemany("INSERT INTO frames(model_id, hash, time, vector) VALUES (?, ?, ?, ?)",
                       [(model_id, hash_, float(t), v.astype(np.float16).tobytes())
                        for t, v in zip(times, vectors)])

    def delete_photos(self, db: sqlite3.Connection, ids: list[int]) -> None:
        db.executemany("DELETE FROM photos WHERE id=?", [(i,) for i in ids])
        self._drop_orphans(db)

    @staticmethod
    def _drop_orphans(db: sqlite3.Connection) -> None:
        for table in ("embeddings", "frames", "texts", "looks"):
            db.execute(f"DELETE FROM {table} WHERE hash NOT IN "
                       f"(SELECT hash FROM photos WHERE hash IS NOT NULL)")

    def photo_path(self, uri: str, stable_id: str) -> str | None:
        """The path of an indexed photo, or None: what a server may hand out."""
        row = self.db.execute("SELECT p.path FROM photos p JOIN locations l ON l.id = "
                              "p.location_id WHERE l.uri=? AND p.stable_id=? AND "
                              "p.status='ok'", (uri, stable_id)).fetchone()
        return row[0] if row else None

    def embeddings_of(self, keys: Sequence[tuple[str, str]], model_id: int) -> np.ndarray:
        """The normalised stored vector (a video's: its frames' mean) of each (location,
        stable id), in order; a zero row for one not embedded."""
        dim = self.db.execute("SELECT dim FROM models WHERE id=?", (model_id,)).fetchone()[0]
        out = np.zeros((len(keys), dim), np.float32)
        for n, (uri, sid) in enumerate(keys):
            row = self.db.execute(
                "SELECT e.vector FROM photos p JOIN locations l ON l.id = p.location_id "
                "JOIN embeddings e ON e.model_id=? AND e.hash=p.hash WHERE l.uri=? AND "
                "p.stable_id=?", (model_id, uri, sid)).fetchone()
            if row:
                vector = np.frombuffer(row[0], np.float16).astype(np.float32)
                out[n] = vector / max(float(np.linalg.norm(vector)), 1e-12)
        return out

    def text_vectors(self, model_id: int, texts: list[str], dim: int) -> dict[str, np.ndarray]:
        """Cached text embeddings of this model (prompts and vocabularies)."""
        found: dict[str, np.ndarray] = {}
        for i in range(0, len(texts), 500):
            chunk = texts[i:i + 500]
            for text, blob in self.db.execute(
                    f"SELECT text, vector FROM text_embeddings WHERE model_id=? AND text IN "
                    f"({','.join('?' * len(chunk))})", (model_id, *chunk)):
                found[text] = np.frombuffer(blob, dtype=np.float32).reshape(dim)
        return found

    def put_text_vectors(self, model_id: int, vectors: dict[str, np.ndarray]) -> None:
        with self.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO text_embeddings(model_id, text, vector) "
                           "VALUES (?, ?, ?)", [(model_id, t, v.astype(np.float32).tobytes())
                                                for t, v in vectors.items()])

    # -- the search matrix: float32, memory-mapped from a cache file beside the index --

    def generation(self) -> int:
        """Changes whenever any process changes photos or embeddings."""
        return self.db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0]

    def cache_dir(self) -> Path:
        return self.path.with_name(self.path.name + ".cache")

    def vectors(self, location_ids: list[int], model_id: int) -> tuple[np.ndarray, np.ndarray]:
        """``search_matrix`` without the times: the matrix and the photo id of each row."""
        mat, ids, _ = self.search_matrix(location_ids, model_id)
        return mat, ids

    def search_matrix(self, location_ids: list[int], model_id: int
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Every embedded photo of these locations as rows of a float32 matrix (normalised),
        a video as one row per frame; the photo id of each row (a photo's rows together,
        in order of time); and the seconds into its video of each row (NaN for a still), or
        None when no row is a video's. Memory-mapped from ``INDEX.cache/``, rebuilt from
        the index's float16 vectors when the index has changed since; kept open in memory
        until then, so a warm search is only the matrix product."""
        key = (tuple(sorted(location_ids)), model_id)
        generation = self.generation()
        cached = self._matrices.get(key)
        if cached and cached[0] == generation:
            return cached[1]
        stem = self._cache_stem(key)
        files = tuple(self.cache_dir() / f"{stem}-g{generation}{suffix}"
                      for suffix in (".npy", ".ids.npy", ".times.npy"))
        try:  # the times go first and the ids last: with the ids, the rest is there
            mat, ids = np.load(files[0], mmap_mode="r"), np.load(files[1])
            times = np.load(files[2]) if files[2].exists() else None
        except (OSError, ValueError):
            mat, ids, times = self._load_vectors(list(key[0]), model_id)
            if self._save_vectors(stem, files, mat, ids, times):
                mat = np.load(files[0], mmap_mode="r")
        self._matrices = {key: (generation, (mat, ids, times))}
        return mat, ids, times

    def _drop_stale(self, stem: str, suffix: str, keep: tuple[Path, ...]) -> None:
        """Delete this key's cache files of older generations."""
        for old in self.cache_dir().glob(f"{stem}-g*{suffix}"):
            if old not in keep:
                old.unlink(missing_ok=True)

    @staticmethod
    def _cache_stem(key: tuple[tuple[int, ...], int]) -> str:
        digest = hashlib.blake2b(repr(key[0]).encode(), digest_size=6).hexdigest()
        return f"m{key[1]}-l{digest}"

    def approximate(self, location_ids: list[int], model_id: int) -> Any:
        """The ``ApproximateIndex`` over ``vectors``' matrix, cached like it (built when
        the index has changed since; faiss is imported only here)."""
        from photoplug.index.ann import ApproximateIndex
        key = (tuple(sorted(location_ids)), model_id)
        matrix, _ = self.vectors(location_ids, model_id)
        generation = self.generation()
        cached = self._approximate.get(key)
        if cached and cached[0] == generation:
            return cached[1]
        stem = self._cache_stem(key)
        path = self.cache_dir() / f"{stem}-g{generation}.ivf"
        index = ApproximateIndex.load(path) if path.exists() else None
        if index is None:
            index = ApproximateIndex.build(matrix)
            try:
                index.save(path)
                self._drop_stale(stem, ".ivf", (path,))
            except OSError:
                pass  # kept in memory only
        self._approximate = {key: (generation, index)}
        return index

    def _load_vectors(self, location_ids: list[int], model_id: int
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        marks = ",".join("?" * len(location_ids))
        dim = self.db.execute("SELECT dim FROM models WHERE id=?", (model_id,)).fetchone()[0]
        rows = self.db.execute(f"""
            SELECT p.id, f.time, coalesce(f.vector, e.vector) FROM photos p
            JOIN embeddings e ON e.model_id=? AND e.hash=p.hash
            LEFT JOIN frames f ON f.model_id=e.model_id AND f.hash=e.hash
            WHERE p.status='ok' AND p.location_id IN ({marks})
            ORDER BY p.id, f.time""", (model_id, *location_ids)).fetchall()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        times = np.fromiter((np.nan if r[1] is None else r[1] for r in rows),
                            dtype=np.float32, count=len(rows))
        mat = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float16)
        mat = mat.reshape(len(rows), dim).astype(np.float32)
        mat /= np.maximum(np.linalg.norm(mat, axis=1, keepdims=True), 1e-12)
        return mat, ids, None if np.isnan(times).all() else times

    def _save_vectors(self, stem: str, files: tuple[Path, ...], mat: np.ndarray,
                      ids: np.ndarray, times: np.ndarray | None) -> bool:
        """Write the cache files atomically (the times, when there are videos, first; the
        ids last) and drop this key's older ones; False when the folder cannot be written
        (searches then keep the matrix in memory only)."""
        try:
            folder = self.cache_dir()
            folder.mkdir(exist_ok=True)
            written = [(files[2], times)] if times is not None else []
            for target, array in [*written, (files[0], mat), (files[1], ids)]:
                tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
                with open(tmp, "wb") as f:
                    np.save(f, array)
                os.replace(tmp, target)
            self._drop_stale(stem, ".npy", tuple(t for t, _ in written) + files[:2])
            return True
        except OSError:
            return False

    def rows(self, photo_ids: Sequence[int]
             ) -> list[tuple[str, str, str, dict[str, Any]] | None]:
        """(path, stable_id, location, host_ref) of these photos, in the order given; None
        for one deleted since its ids were read."""
        found: dict[int, tuple[str, str, str, dict[str, Any]]] = {}
        ids = [int(i) for i in photo_ids]
        for start in range(0, len(ids), 900):
            chunk = ids[start:start + 900]
            for pid, path, sid, uri, ref in self.db.execute(
                    f"SELECT p.id, p.path, p.stable_id, l.uri, p.host_ref FROM photos p JOIN "
                    f"locations l ON l.id = p.location_id WHERE p.id IN "
                    f"({','.join('?' * len(chunk))})", chunk):
                found[pid] = (path, sid, uri, json.loads(ref))
        return [found.get(i) for i in ids]

    def keys(self, location_ids: list[int]) -> dict[tuple[str, str], int]:
        """(location, stable_id) -> photo id, for narrowing a search to a host's filter."""
        marks = ",".join("?" * len(location_ids))
        return {(uri, sid): pid for pid, uri, sid in self.db.execute(
            f"SELECT p.id, l.uri, p.stable_id FROM photos p JOIN locations l ON "
            f"l.id = p.location_id WHERE p.location_id IN ({marks})", location_ids)}

    def matrix(self, location_ids: list[int], model_id: int
               ) -> tuple[np.ndarray, list[tuple[str, str, str, dict[str, Any]]]]:
        """One normalised row per photo (a video's: the mean of its frames, as its stored
        embedding) with the (path, stable_id, location, host_ref) of every row."""
        while True:
            mat, ids, times = self.search_matrix(location_ids, model_id)
            if times is not None:
                mat, ids = _one_row_each(mat, ids)
            rows = self.rows(ids)
            if all(rows):  # else a writer deleted photos in between: read both again
                return mat, rows  # type: ignore[return-value]


def _one_row_each(mat: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows of each photo (consecutive, same id) as their normalised mean."""
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    means = np.add.reduceat(np.asarray(mat), starts, axis=0)
    return means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12), ids[starts]
