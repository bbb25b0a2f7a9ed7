"""The indexing pipeline: scan, diff against the index, decode, encode, store.

``index_with`` scans a library, diffs it against the index (new, changed, moved, deleted)
and hands the photos to read to a ``Work``: here (``index_library``) or on a cluster
(``photoplug.index.cluster``); each batch comes back through ``Run.write``, one SQLite
transaction, so a crash or Ctrl-C loses at most the batches in flight.

Here, reading, hashing, decoding and preprocessing (``read``) run in worker threads
(Pillow, PyAV, numpy and file I/O release the GIL) a couple of batches ahead of the model:
one per core, at most four, sharing the cores with the model's own threads (decoding costs
a fraction of encoding). A video is a few frames (``video.frames``) and weighs as many
photos as it may have frames when batches are cut.
"""
from __future__ import annotations

import functools
import hashlib
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Container, Iterator

import numpy as np

from photoplug.media.decode import Unreadable, decode
from photoplug.hooks import Library, PhotoRef
from photoplug.model.machine import cpu_count
from photoplug.index import model_switch
from photoplug.index.store import IndexStore, StoredPhoto
from photoplug.media import video
from photoplug.media.formats import is_video

if TYPE_CHECKING:
    from photoplug.model.engine import Engine
    from photoplug.model.spec import ModelIdentity

BATCH_SIZE = 32
FIRST_BATCH = 8
BATCHES_AHEAD = 2
Progress = Callable[[int, int], None]  # (photos done, photos to do)
Todo = tuple[PhotoRef, StoredPhoto | None]  # a photo to read, and its row in the index


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
    switch: str = ""  # re-indexed with another model: "done", or "waiting" for photos
    text: Any = None  # with --text: the text reader's ``TextReport``

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
                + f" in {self.seconds:.1f} s ({self.rate:.1f} photos/s)"
                + _SWITCH_NOTES.get(self.switch, "")
                + (f"; {self.text.summary()}" if self.text else ""))


_SWITCH_NOTES = {
    "done": "; searches use this model now (`photoplug forget --model OLD` drops the old "
            "model's vectors)",
    "waiting": "; searches keep the old model until this one holds every photo (some are "
               "offline: index again when they are back)",
}


@dataclass
class Read:
    """A photo as read for the index: its content hash and, unless that content has an
    embedding already, its preprocessed pixels (a video: one per frame, ``times`` says
    when), replaced by their ``vectors`` once encoded; or why it is skipped."""

    hash: str | None = None
    pixels: np.ndarray | None = None  # float32 (N, 3, H, W)
    times: list[float] | None = None  # a video's frames, seconds into it
    vectors: np.ndarray | None = None  # float32 (N, dim), normalised
    reason: str | None = None


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def file_hash(path: Path) -> str:
    """``content_hash`` of a file's bytes, read in pieces (a video may be gigabytes)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, lambda: hashlib.blake2b(digest_size=16)).hexdigest()


def unreadable(exc: OSError) -> str:
    """The reason a file that cannot be read is skipped."""
    return f"unreadable: {exc.strerror or exc}"


def decode_threads() -> int:
    """Threads that read and decode beside the model: one per core, at most four."""
    return min(4, cpu_count())


def read(path: Path, engine: Engine, embedded: Container[str], data: bytes | None = None
         ) -> Read:
    """Read, hash and (only when the content has no embedding yet) decode ``path``;
    ``data``: a photo's bytes, read elsewhere."""
    item = Read()
    try:
        if is_video(path):
            item.hash = file_hash(path)
            if item.hash not in embedded:
                shown = video.frames(path, engine.image_size)
                item.times = [t for t, _ in shown]
                item.pixels = np.stack([engine.preprocess(im) for _, im in shown])
        else:
            data = path.read_bytes() if data is None else data
            item.hash = content_hash(data)
            if item.hash not in embedded:
                item.pixels = engine.preprocess(decode(data, path, engine.image_size))[None]
    except OSError as exc:
        item.reason = unreadable(exc)
    except Unreadable as exc:
        item.reason = str(exc)
    return item


def encode(engine: Engine, reads: list[Read]) -> str:
    """Encode the pixels of ``reads`` into their vectors, BATCH_SIZE images at a time;
    return the runtime that did ("" when nothing needed encoding)."""
    todo = [(r, r.pixels) for r in reads if r.pixels is not None]
    if not todo:
        return ""
    pixels = np.concatenate([own for _, own in todo])
    vectors = np.concatenate([engine.encode_pixels(pixels[i:i + BATCH_SIZE])
                              for i in range(0, len(pixels), BATCH_SIZE)])
    start = 0
    for r, own in todo:
        r.vectors, r.pixels, start = vectors[start:start + len(own)], None, start + len(own)
    return getattr(engine, "image_backend", "plugin")


@dataclass
class Run:
    """One indexing run of a location: what the diff left to do, and what is done."""

    location_id: int
    model_id: int
    todo: list[Todo]
    embedded: set[str]  # content hashes with an embedding of this model
    vanished: list[StoredPhoto]
    report: IndexReport
    progress: Progress | None = None
    done: int = 0
    vanished_hashes: set[str] = field(init=False)  # what a new photo may have moved from

    def __post_init__(self) -> None:
        self.vanished_hashes = {p.hash for p in self.vanished if p.hash}

    def write(self, store: IndexStore, items: list[tuple[PhotoRef, StoredPhoto | None, Read]],
              backend: str) -> None:
        """Store one batch in one transaction (``backend`` encoded its vectors) and count it."""
        report = self.report
        with store.transaction() as db:
            for ref, old, it in items:
                if it.vectors is not None:
                    if it.times is None:
                        store.put_embedding(db, self.model_id, it.hash, it.vectors[0], backend)
                    else:
                        store.put_video(db, self.model_id, it.hash, it.times, it.vectors,
                                        backend)
                        report.videos += 1
                        report.frames += len(it.times)
                    report.encoded += 1
                status = "skipped" if it.reason else "ok"
                store.upsert_photo(db, self.location_id, ref.stable_id, str(ref.path),
                                   ref.size, ref.mtime, it.hash, status, it.reason,
                                   ref.host_ref)
                if it.reason:
                    report.skipped.append((str(ref.path), it.reason))
                if old is not None and (old.size, old.mtime) == (ref.size, ref.mtime):
                    report.reembedded += 1  # same file, new model
                elif old is not None:
                    report.changed += 1
                elif it.hash in self.vanished_hashes:
                    report.moved += 1
                else:
                    report.new += 1
        self.embedded.update(it.hash for _, _, it in items if it.hash and it.vectors is not None)
        self.done += len(items)
        if self.progress:
            self.progress(self.done, len(self.todo))


Work = Callable[[IndexStore, Run], None]  # reads and encodes run.todo, each batch to run.write


def index_library(library: Library, store: IndexStore, engine: Engine,
                  progress: Progress | None = None, batch_size: int = BATCH_SIZE) -> IndexReport:
    """Bring the index's entries for ``library`` up to date with ``engine``'s model."""
    return index_with(library, store, engine.identity,
                      functools.partial(_encode_here, engine, batch_size), progress)


def index_with(library: Library, store: IndexStore, identity: ModelIdentity, work: Work,
               progress: Progress | None = None, report: IndexReport | None = None
               ) -> IndexReport:
    """Bring the index's entries for ``library`` up to date with the model ``identity``;
    ``work`` reads and encodes the photos that need it."""
    started = time.monotonic()
    report = report or IndexReport(library.uri)
    with store.writer():
        location_id = store.ensure_location(library.uri)
        if not library.available():
            store.set_location(location_id, online=0)
            report.online = False
            return report
        model_id = store.model_id(identity.name, identity.pretrained, identity.weights_hash,
                                  identity.dim)
        answering = model_switch.begin(store, location_id, model_id)
        run = _diff(library, store, location_id, model_id, report)
        run.progress = progress
        if progress:
            progress(0, len(run.todo))
        work(store, run)
        if run.vanished:
            with store.transaction() as db:
                store.delete_photos(db, [p.id for p in run.vanished])
        report.deleted = len(run.vanished) - report.moved
        store.set_location(location_id, indexed_at=time.time())
        if answering != model_id:
            report.switch = "done" if model_switch.finish(store, location_id, model_id) \
                else "waiting"
    report.seconds = time.monotonic() - started
    return report


def _diff(library: Library, store: IndexStore, location_id: int, model_id: int,
          report: IndexReport) -> Run:
    """Scan ``library`` against what the index holds: the photos to read, the rest counted."""
    stored = store.photos(location_id, model_id)
    todo: list[Todo] = []
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
    embedded = store.embedded_hashes(model_id, {p.hash for p in stored.values() if p.hash})
    return Run(location_id, model_id, todo, embedded, vanished, report)


def batches(items: list[Todo], size: int) -> Iterator[list[Todo]]:
    """``items`` in batches of about ``size`` images (a video weighs ``MAX_FRAMES``); the
    first one smaller, so that the model starts while the photos after it decode."""
    batch: list[Todo] = []
    weight, limit = 0, min(FIRST_BATCH, size)
    for item in items:
        batch.append(item)
        weight += video.MAX_FRAMES if is_video(item[0].path) else 1
        if weight >= limit:
            yield batch
            batch, weight, limit = [], 0, size
    if batch:
        yield batch


def _encode_here(engine: Engine, batch_size: int, store: IndexStore, run: Run) -> None:
    """Read in threads a couple of batches ahead of ``engine``, which encodes them here."""
    if run.todo and hasattr(engine, "prepare"):
        engine.prepare()  # a model loaded lazily loads faster before decoding starts
    with ThreadPoolExecutor(decode_threads(), thread_name_prefix="photoplug-decode") as pool:
        in_flight: deque[list[tuple[PhotoRef, StoredPhoto | None, Future[Read]]]] = deque()
        for batch in batches(run.todo, batch_size):
            in_flight.append([(ref, old, pool.submit(_load, engine, run.embedded, ref))
                              for ref, old in batch])
            if len(in_flight) > BATCHES_AHEAD:
                _store_batch(store, engine, run, in_flight.popleft())
        while in_flight:
            _store_batch(store, engine, run, in_flight.popleft())


def _load(engine: Engine, embedded: set[str], ref: PhotoRef) -> Read:
    return Read(reason=ref.problem) if ref.problem else read(ref.path, engine, embedded)


def _store_batch(store: IndexStore, engine: Engine, run: Run,
                 loaded: list[tuple[PhotoRef, StoredPhoto | None, Future[Read]]]) -> None:
    """Encode what needs encoding and write the whole batch in one transaction."""
    items = [(ref, old, future.result()) for ref, old, future in loaded]
    run.write(store, items, encode(engine, [it for _, _, it in items]))
