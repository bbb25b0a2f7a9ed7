"""Index on a Ray cluster: ``photoplug index LOCATION --ray [ADDRESS]``.

The driver scans the library and diffs it against the index as a local run does
(``indexer.index_with``), and writes each batch that comes back in one SQLite transaction
(``Run.write``). Workers are Ray actors, by default one per GPU, else one per node with
all of its CPUs (as a local run uses a machine). Each reads, decodes and encodes its
batches as a local run on its machine would (``indexer.read`` and ``encode``, with
``Photoplug.worker_engine``: the same model, through its exported image tower where the
backend allows) and returns content hashes and vectors (a video: its frames' times and
vectors). Workers that cannot see the library are sent each file's bytes (``ship_bytes``)
or told where it lies for them (``path_map``).

Faults: a worker that dies (killed, out of memory, its node lost) is replaced and its
batches are redone. A batch redone runs alone on its worker, so one that kills its worker
again is to blame: it is split into single photos, and a photo that kills its worker
``DEATHS_ALONE`` times on its own is recorded as skipped. A driver killed loses at most
its batches in flight; the next run goes on from there.
"""
from __future__ import annotations

import importlib.util
import logging
import math
import os
import socket
import tempfile
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from photoplug.media.formats import is_video
from photoplug.media.decode import first_line
from photoplug.errors import PhotoplugError
from photoplug.hooks import Library, PhotoRef
from photoplug.index.indexer import (BATCH_SIZE, BATCHES_AHEAD, IndexReport, Progress, Read, Run,
                               Todo, batches, decode_threads, encode, index_with, read,
                               unreadable)
from photoplug.index.store import IndexStore
from photoplug.model.spec import ModelIdentity, ModelSpec

IN_FLIGHT = 1 + BATCHES_AHEAD  # batches a worker holds: one in the model, the next reading
DEATHS_ALONE = 2  # a photo whose worker died this often with it alone is skipped
START_TIMEOUT = 600.0  # seconds to wait for a first worker (it may export the model first)
SHIP_THREADS = 8  # the driver's threads reading files to ship
CONNECT_TIMEOUT = 10.0  # seconds for the head node to answer
MakeEngine = Callable[[ModelSpec, ModelIdentity, str], Any]  # a worker's engine
INSTALL = "install the ray extra: pip install 'photoplug[ray]'"


@dataclass(frozen=True)
class ClusterOptions:
    """Which Ray cluster, how many workers, and how they see the library."""

    address: str | None = None  # auto, local, ray://HOST:PORT, HOST:PORT; None: RAY_ADDRESS
    ship_bytes: bool = False  # the driver sends each file's bytes
    path_map: tuple[tuple[str, str], ...] = ()  # (the driver's folder, the workers' one)
    workers: int | None = None  # None: one per GPU, else one per node
    batch_size: int = BATCH_SIZE

    def __post_init__(self) -> None:
        if importlib.util.find_spec("ray") is None:
            raise PhotoplugError(INSTALL)

    @staticmethod
    def parse_path_map(values: Iterable[str]) -> tuple[tuple[str, str], ...]:
        """``LOCAL=REMOTE`` pairs; LOCAL as the adapters write paths (absolute)."""
        pairs = []
        for value in values:
            local, sep, remote = value.partition("=")
            if not (sep and local and remote):
                raise PhotoplugError(f"--path-map takes LOCAL=REMOTE, not {value!r}")
            pairs.append((os.path.abspath(os.path.expanduser(local)), remote))
        return tuple(pairs)

    def worker_path(self, path: Path) -> str:
        """Where the workers find ``path``: under the longest path-map folder it is in."""
        text = str(path)
        for local, remote in sorted(self.path_map, key=lambda pair: -len(pair[0])):
            inside = local.rstrip("/")
            if text == inside or text.startswith(inside + "/"):
                return remote.rstrip("/") + text[len(inside):]
        return text


@dataclass
class ClusterReport(IndexReport):
    """An ``IndexReport`` with what each Ray worker did (``workers``: one dict each)."""

    workers: list[dict[str, Any]] = field(default_factory=list)
    lost: int = 0  # workers that died
    redone: int = 0  # batches (or photos of one) sent again after their worker died

    def summary(self) -> str:
        if not self.workers:
            return super().summary()
        lost = f"; {self.lost} died, {self.redone} batches redone" if self.lost else ""
        count = len(self.workers)
        lines = [f"{super().summary()} on {count} Ray worker{'s' if count > 1 else ''}{lost}"]
        lines += [f"  worker {w['worker']} on {w['node']} ({w['backend']}): {w['encoded']} "
                  f"encoded in {w['seconds']:.1f} s ({w['rate']:.1f} photos/s)"
                  + (", died" if w["died"] else "") for w in self.workers]
        return "\n".join(lines)


def index_on_ray(library: Library, store: IndexStore, engine: Any, device: str,
                 options: ClusterOptions, make_engine: MakeEngine,
                 progress: Progress | None = None) -> ClusterReport:
    """Index ``library`` with ``engine``'s model on the Ray cluster ``options`` name; each
    worker builds its own engine with ``make_engine(spec, identity, device)`` (a function
    Ray can send by name)."""
    joined = _connect(options.address)
    try:
        driver = _Driver(options, engine.spec, engine.identity, device, make_engine)
        report = ClusterReport(library.uri)
        index_with(library, store, engine.identity, driver, progress, report)
        report.workers = [h.stats() for h in driver.handles if h.where]
        report.lost, report.redone = sum(h.dead for h in driver.handles), driver.redone
        return report
    finally:
        if joined:
            import ray
            ray.shutdown()


def _connect(address: str | None) -> bool:
    """Join the Ray cluster at ``address`` (None: RAY_ADDRESS, else auto) unless this
    process is in one already; whether it joined."""
    import ray
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or "auto"
    _reachable(address)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # offline: a cluster started here
    try:
        ray.init(address=address, logging_level=logging.ERROR)
    except ConnectionError:
        raise PhotoplugError(f"no Ray cluster is running at {address}: start one with "
                             f"`ray start --head`, or use --ray local") from None
    except Exception as exc:  # a bad address, another Ray version, no token: Ray says
        raise PhotoplugError(f"could not join the Ray cluster at {address}: "
                             f"{first_line(exc)}") from None
    return True


def _reachable(address: str) -> None:
    """Refuse at once a HOST:PORT (or ray://HOST:PORT) where nothing listens: Ray itself
    would keep trying for minutes."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not (sep and port.isdigit()):
        return  # auto, local, or Ray's to judge
    try:
        socket.create_connection((host.strip("[]"), int(port)), CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise PhotoplugError(f"nothing answers at {address} ({exc.strerror or exc}): is the "
                             f"Ray cluster's head node up?") from None


def _layout(workers: int | None, device: str) -> tuple[int, dict[str, float]]:
    """How many workers to start and what each asks Ray for."""
    import ray
    nodes = [n["Resources"] for n in ray.nodes() if n["Alive"]]
    cpus = [n["CPU"] for n in nodes if n.get("CPU", 0) >= 1]
    gpu_nodes = [n for n in nodes if n.get("GPU", 0) >= 1 and n.get("CPU", 0) >= 1]
    if not cpus:
        raise PhotoplugError("the Ray cluster has no node with a CPU for a worker")
    if device == "cuda" and not gpu_nodes:
        raise PhotoplugError("--device cuda: the Ray cluster has no GPU")
    if gpu_nodes and device != "cpu":
        gpus = sum(n["GPU"] for n in gpu_nodes)
        count = workers or int(gpus)
        share = min(n["CPU"] // n["GPU"] for n in gpu_nodes)
        return count, {"num_cpus": max(1.0, share), "num_gpus": min(1.0, gpus / count)}
    count = workers or len(cpus)
    return count, {"num_cpus": min(cpus) if workers is None else max(1, sum(cpus) // count)}


class SortedHashes:
    """Content hashes as one sorted array: a node's workers share it without a copy."""

    def __init__(self, hashes: Iterable[str]) -> None:
        self.array = np.array(sorted(h.encode() for h in hashes), dtype=np.bytes_)

    def __contains__(self, hash_: object) -> bool:
        key = str(hash_).encode()
        at = int(np.searchsorted(self.array, key))
        return at < len(self.array) and self.array[at] == key


class Worker:
    """A Ray actor that reads, decodes and encodes batches with this machine's engine for
    the driver's model, a few batches at once: one in the model, the next ones reading."""

    def __init__(self, spec: ModelSpec, identity: ModelIdentity, device: str,
                 embedded: SortedHashes, make_engine: MakeEngine) -> None:
        import ray
        self.engine = make_engine(spec, identity, device)
        if hasattr(self.engine, "prepare"):
            self.engine.prepare()
        self.embedded = embedded
        threads = decode_threads()  # as here: beside the model on the same cores
        if getattr(self.engine, "device", "cpu") != "cpu":  # a GPU's: all of its CPUs
            assigned = ray.get_runtime_context().get_assigned_resources()
            threads = max(threads, int(assigned.get("CPU", 1)))
        self.readers = ThreadPoolExecutor(threads, thread_name_prefix="photoplug-decode")
        self.model = threading.Lock()

    def ready(self) -> tuple[str, int, str]:
        """Where it runs and what encodes: node, process id, runtime."""
        import ray
        return ray.util.get_node_ip_address(), os.getpid(), self.engine.image_backend

    def run(self, items: list[tuple[str, bytes | None]]) -> tuple[list[Read], str, float, float]:
        """Read and encode (path, bytes or None) items: their reads, the runtime that
        encoded them, and when the work started and ended (this machine's clock)."""
        started = time.time()
        reads = list(self.readers.map(self._read, items))
        with self.model:
            backend = encode(self.engine, reads)
        return reads, backend, started, time.time()

    def _read(self, item: tuple[str, bytes | None]) -> Read:
        path, data = Path(item[0]), item[1]
        if data is None or not is_video(path):
            return read(path, self.engine, self.embedded, data)
        with tempfile.NamedTemporaryFile(suffix=path.suffix) as copy:  # PyAV reads files
            copy.write(data)
            copy.flush()
            return read(Path(copy.name), self.engine, self.embedded)


@dataclass
class _Job:
    """A batch for a worker; ``deaths``: workers that died while it ran (then it runs
    alone, so that a death tells which batch caused it)."""

    items: list[Todo]
    deaths: int = 0
    early: list[Read | None] = field(default_factory=list)  # per item: None, sent to a worker


@dataclass
class _Handle:
    """The driver's side of one worker: its actor, its batches in flight, what it did."""

    number: int
    actor: Any
    where: tuple[str, int, str] | None = None  # node, pid, runtime: once started
    dead: bool = False
    jobs: dict[Any, _Job] = field(default_factory=dict)  # by the ref of its result
    photos: int = 0
    encoded: int = 0
    first: float = math.inf
    last: float = 0.0

    @property
    def alone(self) -> bool:
        return any(job.deaths for job in self.jobs.values())

    def stats(self) -> dict[str, Any]:
        node, pid, backend = self.where  # type: ignore[misc]
        seconds = max(0.0, self.last - self.first) if self.photos else 0.0
        return {"worker": self.number, "node": node, "pid": pid, "backend": backend,
                "photos": self.photos, "encoded": self.encoded, "seconds": seconds,
                "rate": self.encoded / seconds if seconds else 0.0, "died": self.dead}


class _Driver:
    """Starts the workers, keeps IN_FLIGHT batches at each, writes what comes back and
    redoes what a dead worker held (an ``indexer.Work``)."""

    def __init__(self, options: ClusterOptions, spec: ModelSpec, identity: ModelIdentity,
                 device: str, make_engine: MakeEngine) -> None:
        self.options = options
        self.model = (spec, identity, device)
        self.make_engine = make_engine
        self.handles: list[_Handle] = []
        self.starting: dict[Any, _Handle] = {}  # by the ref of its ready()
        self.queue: deque[_Job] = deque()
        self.suspects: deque[_Job] = deque()  # batches redone: each runs alone
        self.failed_starts = 0
        self.redone = 0

    def __call__(self, store: IndexStore, run: Run) -> None:
        if not run.todo:
            return
        import ray
        self.count, self.resources = _layout(self.options.workers, self.model[2])
        spec, identity, device = self.model
        device = device if "num_gpus" in self.resources else "cpu"
        self.actor = ray.remote(Worker).options(
            **self.resources, max_concurrency=IN_FLIGHT, max_restarts=0, max_task_retries=0)
        self.args = (spec, identity, device, ray.put(SortedHashes(run.embedded)),
                     self.make_engine)
        self.queue.extend(_Job(batch) for batch in batches(run.todo, self.options.batch_size))
        self.shipper = ThreadPoolExecutor(SHIP_THREADS, thread_name_prefix="photoplug-ship")
        try:
            for _ in range(self.count):
                self._start()
            while self.queue or self.suspects or any(h.jobs for h in self.handles):
                self._submit()
                self._collect(store, run)
        finally:
            self.shipper.shutdown(cancel_futures=True)
            for handle in self.handles:
                ray.kill(handle.actor)

    def _start(self) -> None:
        handle = _Handle(len(self.handles) + 1, self.actor.remote(*self.args))
        self.handles.append(handle)
        self.starting[handle.actor.ready.remote()] = handle

    def _submit(self) -> None:
        """Give each started worker batches up to IN_FLIGHT; a batch redone goes alone to a
        worker with nothing else in flight (the others drain for it)."""
        for handle in self.handles:
            if not handle.where or handle.dead or handle.alone:
                continue
            if self.suspects:
                if not handle.jobs:
                    self._send(handle, self.suspects.popleft())
                continue
            while self.queue and len(handle.jobs) < IN_FLIGHT:
                self._send(handle, self.queue.popleft())

    def _send(self, handle: _Handle, job: _Job) -> None:
        payloads = list(self.shipper.map(self._payload, [ref for ref, _ in job.items]))
        job.early = [p if isinstance(p, Read) else None for p in payloads]
        work = [p for p in payloads if not isinstance(p, Read)]
        handle.jobs[handle.actor.run.remote(work)] = job

    def _payload(self, ref: PhotoRef) -> tuple[str, bytes | None] | Read:
        """What the worker gets for a photo; a ``Read`` where no worker is needed (the scan
        found a problem, the driver cannot read a file to ship)."""
        if ref.problem:
            return Read(reason=ref.problem)
        where = self.options.worker_path(ref.path)  # shipped: for its name only
        if not self.options.ship_bytes:
            return where, None
        try:
            return where, ref.path.read_bytes()
        except OSError as exc:
            return Read(reason=unreadable(exc))

    def _collect(self, store: IndexStore, run: Run) -> None:
        """Wait for one worker to start or one batch to come back, and deal with it."""
        import ray
        from ray.exceptions import RayActorError, RayTaskError
        waiting = {**self.starting, **{ref: h for h in self.handles for ref in h.jobs}}
        timeout = None if any(h.where and not h.dead for h in self.handles) else START_TIMEOUT
        done, _ = ray.wait(list(waiting), num_returns=1, timeout=timeout)
        if not done:
            raise PhotoplugError(f"no Ray worker started in {START_TIMEOUT:.0f} s: does the "
                                 f"cluster have room for one ({self.resources})?")
        ref, handle = done[0], waiting[done[0]]
        job = handle.jobs.pop(ref, None)
        self.starting.pop(ref, None)
        try:
            result = ray.get(ref)
        except RayActorError as exc:
            if exc.actor_init_failed:
                raise PhotoplugError(f"a Ray worker could not start: {_cause(exc)}") from None
            self._died(handle, job, store, run)
            return
        except RayTaskError as exc:
            raise PhotoplugError(f"a Ray worker failed: {_cause(exc)}") from None
        if job is None:
            handle.where = result
            return
        reads, backend, started, ended = result
        back = iter(reads)
        items = [(photo, old, early if early is not None else next(back))
                 for (photo, old), early in zip(job.items, job.early)]
        run.write(store, items, backend)
        handle.photos += len(items)
        handle.encoded += sum(it.vectors is not None for _, _, it in items)
        handle.first, handle.last = min(handle.first, started), max(handle.last, ended)

    def _died(self, handle: _Handle, job: _Job | None, store: IndexStore, run: Run) -> None:
        """A worker died: replace it (once), and redo ``job`` as its deaths allow."""
        if not handle.dead:
            handle.dead = True
            if job is None and not handle.where:
                self.failed_starts += 1
                if self.failed_starts > self.count + 2:
                    raise PhotoplugError("Ray workers keep dying as they start (out of "
                                         "memory?); see the cluster's logs")
            self._start()
        if job is None:
            return
        alone, job.deaths = job.deaths > 0, job.deaths + 1
        if alone and len(job.items) > 1:
            self.suspects.extend(_Job([item], 1) for item in job.items)
        elif alone and job.deaths > DEATHS_ALONE:
            (photo, old), = job.items
            reason = (f"a Ray worker died reading it, {job.deaths - 1} times on its own "
                      f"(a crash in a decoder?)")
            run.write(store, [(photo, old, Read(reason=reason))], "")
            return
        else:
            self.suspects.append(job)
        self.redone += 1


def _cause(exc: Exception) -> str:
    """A worker's own error in one line (a failed start's: its traceback's last line)."""
    cause = getattr(exc, "cause", None)
    if cause is not None:
        return first_line(cause)
    last = (str(exc).strip().splitlines() or [""])[-1]
    kind, sep, message = last.partition(": ")
    return message if sep and " " not in kind else last
