"""The indexing pipeline: scan, diff against the index, decode, encode, store.

Reading, hashing, decoding and preprocessing run in worker threads (Pillow, numpy and file
I/O release the GIL) a couple of batches ahead of the model: one per core, at most four,
sharing the cores with the model's own threads (decoding costs a fraction of encoding).
Each batch is written in one SQLite transaction, so a crash or Ctrl-C loses at most the
batch in flight.
"""
from __future__ import annotations

import hashlib
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np

from photoplug.decode import Unreadable, decode
from photoplug.hooks import Library, PhotoRef
from photoplug.machine import cpu_count
from photoplug.store import IndexStore, StoredPhoto

if TYPE_CHECKING:
    from photoplug.engine import Engine

BATCH_SIZE = 32
FIRST_BATCH = 8
BATCHES_AHEAD = 2
Progress = Callable[[int, int], None]  # (photos done, photos to do)


@dataclass
class IndexReport:
    """What one indexing run found and did."""

    location: str
    online: bool = True
    total: int = 0
    new: int = 0
    changed: int = 0
    moved: int = 0
    deleted: int = 0
    unchanged: int = 0
    reembedded: int = 0
    offline: int = 0
    encoded: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        """Photos encoded per second."""
        return self.encoded / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        if not self.online:
            return (f"{self.location} is missing or not mounted: its photos are kept in the "
                    f"index as offline")
        model_change = (f"{self.reembedded} re-embedded for a new model, "
                        if self.reembedded else "")
        return (f"{self.total} photos: {self.new} new, {self.changed} changed, {self.moved} "
                f"moved, {self.deleted} deleted, {self.unchanged} unchanged, {model_change}"
                f"{len(self.skipped)} skipped, {self.offline} offline; {self.encoded} encoded"
                f" in {self.seconds:.1f} s ({self.rate:.1f} photos/s)")


@dataclass
class _Loaded:
    ref: PhotoRef
    old: StoredPhoto | None
    hash: str | None = None
    pixels: Any = None  # a preprocessed image, float32 (3, H, W)
    reason: str | None = None


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


class _Loader:
    """Reads, hashes and (only when the content has no embedding yet) decodes a photo."""

    def __init__(self, engine: Engine, embedded: set[str]) -> None:
        self.engine = engine
        self.embedded = embedded

    def __call__(self, ref: PhotoRef, old: StoredPhoto | None) -> _Loaded:
        item = _Loaded(ref, old)
        if ref.problem:
            item.reason = ref.problem
            return item
        try:
            data = ref.path.read_bytes()
        except OSError as exc:
            item.reason = f"unreadable: {exc.strerror or exc}"
            return item
        item.hash = content_hash(data)
        if item.hash in self.embedded:
            return item
        try:
            image = decode(data, ref.path, self.engine.image_size)
            item.pixels = self.engine.preprocess(image)
        except Unreadable as exc:
            item.reason = str(exc)
        return item


def index_library(library: Library, store: IndexStore, engine: Engine,
                  progress: Progress | None = None, batch_size: int = BATCH_SIZE) -> IndexReport:
    """Bring the index's entries for ``library`` up to date with ``engine``'s model."""
    started = time.monotonic()
    report = IndexReport(library.uri)
    with store.writer():
        location_id = store.ensure_location(library.uri)
        if not library.available():
            store.set_location(location_id, online=0)
            report.online = False
            return report
        ident = engine.identity
        model_id = store.model_id(ident.name, ident.pretrained, ident.weights_hash, ident.dim)
        store.set_location(location_id, model_id=model_id, online=1)
        stored = store.photos(location_id, model_id)

        todo: list[tuple[PhotoRef, StoredPhoto | None]] = []
        seen: set[str] = set()
        for ref in library.scan():
            if ref.stable_id in seen:
                continue
            seen.add(ref.stable_id)
            if ref.offline:
                report.offline += 1
                continue
            old = stored.get(ref.stable_id)
            same_file = old is not None and (old.size, old.mtime) == (ref.size, ref.mtime)
            if old and (ref.problem is not None and old.status == "skipped"
                        or ref.problem is None and same_file
                        and (old.status == "skipped" or old.embedded)):
                report.unchanged += 1
            else:
                todo.append((ref, old))
        report.total = len(seen)
        vanished = [p for sid, p in stored.items() if sid not in seen]
        vanished_hashes = {p.hash for p in vanished if p.hash}
        embedded = store.embedded_hashes(model_id, {p.hash for p in stored.values() if p.hash})

        loader = _Loader(engine, embedded)
        if todo and hasattr(engine, "prepare"):
            engine.prepare()  # a model loaded lazily loads faster before decoding starts
        done = 0
        if progress:
            progress(0, len(todo))
        workers = min(4, cpu_count())
        with ThreadPoolExecutor(workers, thread_name_prefix="photoplug-decode") as pool:
            in_flight: deque[list[Future[_Loaded]]] = deque()
            for batch in _batches(todo, batch_size):
                in_flight.append([pool.submit(loader, ref, old) for ref, old in batch])
                if len(in_flight) > BATCHES_AHEAD:
                    done += _store_batch(store, engine, location_id, model_id, embedded,
                                         vanished_hashes, in_flight.popleft(), report)
                    if progress:
                        progress(done, len(todo))
            while in_flight:
                done += _store_batch(store, engine, location_id, model_id, embedded,
                                     vanished_hashes, in_flight.popleft(), report)
                if progress:
                    progress(done, len(todo))

        if vanished:
            with store.transaction() as db:
                store.delete_photos(db, [p.id for p in vanished])
        report.deleted = len(vanished) - report.moved
        store.set_location(location_id, indexed_at=time.time())
    report.seconds = time.monotonic() - started
    return report


def _batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    """``items`` in batches of ``size``; the first one smaller, so that the model starts
    while the photos after it decode."""
    start, end = 0, min(FIRST_BATCH, size)
    while start < len(items):
        yield items[start:end]
        start, end = end, end + size


def _store_batch(store: IndexStore, engine: Engine, location_id: int, model_id: int,
                 embedded: set[str], vanished_hashes: set[str],
                 futures: list[Future[_Loaded]], report: IndexReport) -> int:
    """Encode what needs encoding and write the whole batch in one transaction."""
    items = [f.result() for f in futures]
    to_encode = [it for it in items if it.pixels is not None]
    vectors: Any = []
    if to_encode:
        vectors = engine.encode_pixels(np.stack([it.pixels for it in to_encode]))
    backend = getattr(engine, "image_backend", "plugin") if to_encode else ""
    with store.transaction() as db:
        for it, vector in zip(to_encode, vectors):
            store.put_embedding(db, model_id, it.hash, vector, backend)
            embedded.add(it.hash)
        for it in items:
            ref = it.ref
            status = "skipped" if it.reason else "ok"
            store.upsert_photo(db, location_id, ref.stable_id, str(ref.path), ref.size,
                               ref.mtime, it.hash, status, it.reason, ref.host_ref)
            if it.reason:
                report.skipped.append((str(ref.path), it.reason))
            if it.old is not None and (it.old.size, it.old.mtime) == (ref.size, ref.mtime):
                report.reembedded += 1  # same file, new model
            elif it.old is not None:
                report.changed += 1
            elif it.hash in vanished_hashes:
                report.moved += 1
            else:
                report.new += 1
    report.encoded += len(to_encode)
    return len(items)
