"""The indexing pipeline: scan, diff against the index, decode, encode, store.

Reading, hashing, decoding and preprocessing run in worker threads (Pillow, PyAV, numpy
and file I/O release the GIL) a couple of batches ahead of the model: one per core, at
most four, sharing the cores with the model's own threads (decoding costs a fraction of
encoding). A video is a few frames (``video.frames``) and weighs as many photos as it may
have frames when batches are cut. Each batch is written in one SQLite transaction, so a
crash or Ctrl-C loses at most the batch in flight.
"""
from __future__ import annotations

import hashlib
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np

from photoplug.decode import Unreadable, decode
from photoplug.hooks import Library, PhotoRef
from photoplug.machine import cpu_count
from photoplug.store import IndexStore, StoredPhoto
from photoplug import video

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
    videos: int = 0  # of those encoded
    frames: int = 0  # the videos' frames encoded
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
                + (f" ({self.videos} videos, {self.frames} frames)" if self.videos else "")
                + f" in {self.seconds:.1f} s ({self.rate:.1f} photos/s)")


@dataclass
class _Loaded:
    ref: PhotoRef
    old: StoredPhoto | None
    hash: str | None = None
    pixels: Any = None  # preprocessed images, float32 (N, 3, H, W): a photo's one, a video's
    times: list[float] | None = None  # a video's frames, seconds into it
    reason: str | None = None


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def file_hash(path: Path) -> str:
    """``content_hash`` of a file's bytes, read in pieces (a video may be gigabytes)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, lambda: hashlib.blake2b(digest_size=16)).hexdigest()


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
            if video.is_video(ref.path):
                item.hash = file_hash(ref.path)
                if item.hash not in self.embedded:
                    shown = video.frames(ref.path, self.engine.image_size)
                    item.times = [t for t, _ in shown]
                    item.pixels = np.stack([self.engine.preprocess(im) for _, im in shown])
            else:
                data = ref.path.read_bytes()
                item.hash = content_hash(data)
                if item.hash not in self.embedded:
                    image = decode(data, ref.path, self.engine.image_size)
                    item.pixels = self.engine.preprocess(image)[None]
        except OSError as exc:
            item.reason = f"unreadable: {exc.strerror or exc}"
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


def _batches(items: list[tuple[PhotoRef, Any]], size: int
             ) -> Iterator[list[tuple[PhotoRef, Any]]]:
    """``items`` in batches of about ``size`` images (a video weighs ``MAX_FRAMES``); the
    first one smaller, so that the model starts while the photos after it decode."""
    batch: list[tuple[PhotoRef, Any]] = []
    weight, limit = 0, min(FIRST_BATCH, size)
    for item in items:
        batch.append(item)
        weight += video.MAX_FRAMES if video.is_video(item[0].path) else 1
        if weight >= limit:
            yield batch
            batch, weight, limit = [], 0, size
    if batch:
        yield batch


def _store_batch(store: IndexStore, engine: Engine, location_id: int, model_id: int,
                 embedded: set[str], vanished_hashes: set[str],
                 futures: list[Future[_Loaded]], report: IndexReport) -> int:
    """Encode what needs encoding and write the whole batch in one transaction."""
    items = [f.result() for f in futures]
    to_encode = [it for it in items if it.pixels is not None]
    vectors: Any = []
    if to_encode:
        pixels = np.concatenate([it.pixels for it in to_encode])
        vectors = np.concatenate([engine.encode_pixels(pixels[i:i + BATCH_SIZE])
                                  for i in range(0, len(pixels), BATCH_SIZE)])
    backend = getattr(engine, "image_backend", "plugin") if to_encode else ""
    with store.transaction() as db:
        start = 0
        for it in to_encode:
            own, start = vectors[start:start + len(it.pixels)], start + len(it.pixels)
            if it.times is None:
                store.put_embedding(db, model_id, it.hash, own[0], backend)
            else:
                store.put_video(db, model_id, it.hash, it.times, own, backend)
                report.videos += 1
                report.frames += len(it.times)
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
