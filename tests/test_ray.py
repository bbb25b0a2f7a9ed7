"""Indexing on a Ray cluster (a real local one: 2 CPUs, its files in a temporary folder):
the same index as a local run, through the workers' own reads, shipped bytes or a path
map; a worker killed mid-run, a photo that kills its worker every time, and the driver
killed with SIGKILL."""
from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import psutil
import pytest

from conftest import CLASSES, Cli, draw_photo, pause_after_rows, wait_for
from photo_factory import bad_inputs, video
from photoplug.index import cluster
from photoplug.api import Photoplug
from photoplug.index.cluster import ClusterOptions
from photoplug.errors import PhotoplugError
from photoplug.search import parse_query

ray = pytest.importorskip("ray", reason="the test extra installs ray: pip install -e '.[test]'")

QUERIES = ["a photo of a red circle", "a photo of a blue square", "a photo of a green triangle"]
TOP = 5  # results compared per query
SCORE_TOLERANCE = 1e-3  # float16 vectors, encoded in other processes


@pytest.fixture(scope="module")
def cluster_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A local Ray cluster of 2 CPUs for this module, its session files and logs in a
    temporary folder; this process is its driver, and the CLI joins it at the address."""
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))
        patch.setenv("RAY_USAGE_STATS_ENABLED", "0")
        patch.delenv("RAY_AUTH_MODE", raising=False)  # Ray's default: a token, in HOME
        patch.delenv("RAY_ADDRESS", raising=False)
        ray.init(num_cpus=2, _temp_dir=str(tmp_path_factory.mktemp("ray")),
                 object_store_memory=100 * 1024 * 1024, include_dashboard=False,
                 logging_level="ERROR")
        try:
            yield ray.get_runtime_context().gcs_address
        finally:
            ray.shutdown()


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Photos of nine classes, a video of two scenes and bad input of every kind. The
    video shows classes none of the photos does: no query's best result has a twin."""
    folder = tmp_path_factory.mktemp("library")
    for n, (colour, shape) in enumerate(CLASSES[:9]):
        draw_photo(folder / f"{colour}_{shape}.jpg", colour, shape, seed=n, size=(640, 480))
    video(folder / "clip.mp4", [("yellow", "circle", 2.0), ("purple", "square", 2.0)])
    (folder / "bad").mkdir()
    bad_inputs(folder / "bad")
    return folder


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory, library: Path, toy_model: str
          ) -> dict[str, Any]:
    """The library indexed here, as a user's run does: what the Ray runs must equal."""
    index = tmp_path_factory.mktemp("local") / "index.sqlite3"
    app = Photoplug(index=index, model=toy_model, device="cpu")
    report = app.index(app.open(str(library)))
    everything = results(app, top=1000)  # every photo's score, for near ties at the edge
    for query, ranked in zip(QUERIES, everything):  # the fixture has no tie at the top
        assert len(ranked) > TOP and ranked[0][1] > ranked[1][1] + 4 * SCORE_TOLERANCE, \
            (query, ranked[:2])
    return {"index": index, "report": report, **contents(index), "results": everything}


def contents(index: Path) -> dict[str, Any]:
    """Photos (stable id -> hash, status, reason), vectors by hash, frames by (hash, time)."""
    with sqlite3.connect(index) as db:
        photos = {r[0]: r[1:] for r in db.execute(
            "SELECT stable_id, hash, status, reason FROM photos")}
        count = db.execute("SELECT count(*) FROM photos").fetchone()[0]
        vectors = {h: np.frombuffer(v, np.float16).astype(np.float32)
                   for h, v in db.execute("SELECT hash, vector FROM embeddings")}
        frames = {(h, t): np.frombuffer(v, np.float16).astype(np.float32)
                  for h, t, v in db.execute("SELECT hash, time, vector FROM frames")}
    assert count == len(photos), "a photo is in the index twice"
    return {"photos": photos, "vectors": vectors, "frames": frames}


def results(app: Photoplug, top: int = TOP) -> list[list[tuple[str, float]]]:
    return [[(r.id, r.score) for r in app.search(parse_query(q), top=top)] for q in QUERIES]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def assert_same_index(index: Path, app: Photoplug, local: dict[str, Any]) -> None:
    """The same photos, hashes and skip reasons, vectors within cosine 0.9999, and the
    same search results: each result with the local run's score for it (within
    SCORE_TOLERANCE), the same best one, and the same top set but for photos whose local
    scores are within twice the tolerance of the edge (near ties may swap)."""
    got = contents(index)
    assert got["photos"] == local["photos"]
    assert got["vectors"].keys() == local["vectors"].keys()
    assert got["frames"].keys() == local["frames"].keys()
    for kind in ("vectors", "frames"):
        assert min(cosine(v, got[kind][k]) for k, v in local[kind].items()) >= 0.9999
    tol = SCORE_TOLERANCE
    for query, theirs, ours in zip(QUERIES, local["results"], results(app)):
        true = dict(theirs)
        assert len(ours) == TOP, (query, ours)
        for i, s in ours:
            assert s == pytest.approx(true[i], abs=tol), (query, i, s, true[i])
        assert all(a >= b for (_, a), (_, b) in zip(ours, ours[1:])), (query, ours)
        assert ours[0][0] == theirs[0][0], (query, ours, theirs)  # no tie: see ``local``
        edge = theirs[TOP - 1][1]
        sure = {i for i, s in theirs[:TOP] if s > edge + 2 * tol}
        possible = {i for i, s in theirs if s >= edge - 2 * tol}
        assert sure <= {i for i, _ in ours} <= possible, (query, ours, theirs[:TOP + 1])


def worker_processes() -> list[psutil.Process]:
    """The processes of photoplug's Ray workers (Ray names them after the actor class:
    Worker, or this module's subclasses of it)."""
    found = []
    for process in psutil.Process().children(recursive=True):
        try:
            if process.cmdline()[:1] and re.match(r"ray::\w*Worker\b", process.cmdline()[0]):
                found.append(process)
        except psutil.Error:
            pass  # gone meanwhile
    return found


def remote_view(library: Path, folder: Path) -> Path:
    """``library`` as a driver that cannot read it sees it: same names and sizes, zeros."""
    for path in sorted(library.rglob("*")):
        target = folder / path.relative_to(library)
        if path.is_symlink():
            target.symlink_to(os.readlink(path))
        elif path.is_dir():
            target.mkdir(parents=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(bytes(path.stat().st_size))
    return folder


@pytest.mark.parametrize("how", ["workers read", "bytes shipped", "path map"])
def test_the_same_index_and_results_as_a_local_run(
        how: str, cluster_address: str, library: Path, local: dict[str, Any], toy_model: str,
        tmp_path: Path) -> None:
    scanned, options = library, ClusterOptions(workers=2, batch_size=4)
    if how == "bytes shipped":  # the workers are told of a folder that is not there
        options = ClusterOptions(workers=2, batch_size=4, ship_bytes=True,
                                 path_map=((str(library), "/nowhere/photos"),))
    elif how == "path map":  # the driver's copy is zeros: only the workers' reads are real
        scanned = remote_view(library, tmp_path / "mounted")
        options = ClusterOptions(workers=2, batch_size=4, path_map=((str(scanned), str(library)),))
    app = Photoplug(index=tmp_path / "index.sqlite3", model=toy_model, device="cpu")
    report = app.index(app.open(str(scanned)), cluster=options)

    assert_same_index(tmp_path / "index.sqlite3", app, local)
    mine = local["report"]
    assert (report.new, report.encoded, report.videos, report.frames) == \
        (mine.new, mine.encoded, mine.videos, mine.frames)
    assert sorted(report.skipped) == sorted(
        (str(scanned / Path(p).relative_to(library)), why) for p, why in mine.skipped)
    assert 1 <= len(report.workers) <= 2 and report.lost == 0  # the 2nd may start too late
    assert sum(w["encoded"] for w in report.workers) == report.encoded
    assert all(w["rate"] > 0 for w in report.workers if w["encoded"])
    assert f"on {len(report.workers)} Ray worker" in report.summary()


def test_workers_killed_mid_run_are_replaced_and_their_batches_redone(
        cluster_address: str, workers_from_here: None, toy_model: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    folder = distinct_copies(tmp_path / "photos", 24, (3000, 2000))
    wait_for(lambda: not worker_processes(), "the workers of earlier runs to end")  # any
    released = tmp_path / "released"  # left are this run's
    monkeypatch.setattr(HoldingWorker, "released", str(released))
    monkeypatch.setattr(cluster, "Worker", HoldingWorker)
    killed: list[int] = []

    def kill_the_workers(done: int, total: int) -> None:
        """At the first batch stored (its worker holds the next), every worker that has
        started (one still starting is no worker yet: the report lists none such)."""
        if done and not released.exists():
            started = {int(p.name) for p in (tmp_path / "started").iterdir()}
            for victim in worker_processes():
                if victim.pid in started:
                    victim.send_signal(signal.SIGKILL)
                    killed.append(victim.pid)
            released.touch()  # their replacements hold nothing back

    app = Photoplug(index=tmp_path / "index.sqlite3", model=toy_model, device="cpu")
    report = app.index(app.open(str(folder)), cluster=ClusterOptions(workers=2, batch_size=4),
                       progress=kill_the_workers)

    assert killed, "no worker was alive at the first batch stored"
    wait_for(lambda: not any(psutil.pid_exists(pid) for pid in killed),
             "the killed workers' processes to go", timeout=30)
    assert report.lost == len(killed) and report.redone >= 1
    assert [w["died"] for w in report.workers].count(True) == len(killed)
    assert (report.new, report.encoded, report.skipped) == (24, 24, [])
    got = contents(tmp_path / "index.sqlite3")
    assert len(got["photos"]) == len(got["vectors"]) == 24, "a photo is missing"
    assert all(h in got["vectors"] for h, _, _ in got["photos"].values())


def test_a_rerun_on_ray_reads_only_what_changed(cluster_address: str, toy_model: str,
                                                tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    for n, (colour, shape) in enumerate(CLASSES[:4]):
        draw_photo(folder / f"{n}.jpg", colour, shape, seed=n, size=(320, 240))
    app = Photoplug(index=tmp_path / "index.sqlite3", model=toy_model, device="cpu")
    library, options = app.open(str(folder)), ClusterOptions(workers=1)
    assert app.index(library, cluster=options).encoded == 4

    (folder / "0.jpg").rename(folder / "moved.jpg")
    (folder / "1.jpg").unlink()
    draw_photo(folder / "2.jpg", "purple", "square", seed=7, size=(320, 240))
    os.utime(folder / "2.jpg", (1, 1))
    draw_photo(folder / "new.jpg", "orange", "circle", seed=8, size=(320, 240))
    report = app.index(library, cluster=options)
    assert (report.moved, report.deleted, report.changed, report.new, report.unchanged) == \
        (1, 1, 1, 1, 1)
    assert report.encoded == 2, "the moved photo is not encoded again"


class BrokenWorker(cluster.Worker):
    """A worker that cannot start, as one without the model's weights."""

    def __init__(self, *args: Any) -> None:
        raise PhotoplugError("no weights for toy-clip here")


class CrashingWorker(cluster.Worker):
    """A worker whose process dies (os._exit: no exception, no clean-up) whenever its batch
    holds a file named poison*: as a decoder's crash on one bad file would."""

    def run(self, items: list[tuple[str, bytes | None]]) -> Any:
        if any(Path(path).name.startswith("poison") for path, _ in items):
            os._exit(1)
        return super().run(items)


class HoldingWorker(cluster.Worker):
    """A worker that returns its first batch at once and holds each later one (encoded,
    not returned) until the file ``released`` exists: when the driver stores a first
    batch, that batch's worker is surely alive, with a batch in hand."""

    released = ""  # the test sets it before the class goes to the workers

    def ready(self) -> tuple[str, int, str]:
        """Started: its process id is written in the folder ``started`` beside
        ``released``."""
        started = Path(self.released).with_name("started")
        started.mkdir(exist_ok=True)
        (started / str(os.getpid())).touch()
        return super().ready()

    def run(self, items: list[tuple[str, bytes | None]]) -> Any:
        done = super().run(items)
        with self.model:
            first, self.returned = not getattr(self, "returned", False), True
        deadline = time.monotonic() + 300
        while not first and not Path(self.released).exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.released} did not appear within 300 s")
            time.sleep(0.05)
        return done


@pytest.fixture
def workers_from_here() -> Iterator[None]:
    """This module's worker classes go to the workers by value (they cannot import tests/)."""
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield
    ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def test_a_worker_that_cannot_start_is_one_clear_error(
        cluster_address: str, workers_from_here: None, toy_model: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, library: Path) -> None:
    monkeypatch.setattr(cluster, "Worker", BrokenWorker)
    app = Photoplug(index=tmp_path / "index.sqlite3", model=toy_model, device="cpu")
    with pytest.raises(PhotoplugError) as error:
        app.index(app.open(str(library)), cluster=ClusterOptions(workers=2))
    assert str(error.value) == "a Ray worker could not start: no weights for toy-clip here"


def test_a_photo_that_kills_its_worker_is_skipped_and_the_rest_indexed(
        cluster_address: str, workers_from_here: None, toy_model: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cluster, "Worker", CrashingWorker)
    folder = tmp_path / "photos"
    for n, (colour, shape) in enumerate(CLASSES[:6]):
        draw_photo(folder / f"{n}.jpg", colour, shape, seed=n, size=(320, 240))
    draw_photo(folder / "poison.jpg", "red", "circle", seed=9, size=(320, 240))

    app = Photoplug(index=tmp_path / "index.sqlite3", model=toy_model, device="cpu")
    report = app.index(app.open(str(folder)),  # batches: 0-3, then 4, 5 and poison
                       cluster=ClusterOptions(workers=2, batch_size=4))

    (skipped, why), = report.skipped
    assert Path(skipped).name == "poison.jpg" and "worker died" in why
    assert report.encoded == 6 and report.new == 7
    assert report.lost == 1 + 1 + cluster.DEATHS_ALONE  # with others, alone, then by itself
    photos = contents(tmp_path / "index.sqlite3")["photos"]
    assert {sid for sid, (_, status, _) in photos.items() if status == "ok"} == \
        {f"{n}.jpg" for n in range(6)}


def test_the_driver_killed_by_sigkill_leaves_an_index_a_rerun_completes(
        cluster_address: str, toy_cli: Cli, tmp_path: Path) -> None:
    folder = distinct_copies(tmp_path / "photos", 240, (1600, 1200))
    argv = [str(Path(sys.executable).with_name("photoplug")), "index", str(folder),
            "--model", toy_cli.model, "--ray", cluster_address, "--workers", "1"]

    paused = tmp_path / "paused"  # the driver stops itself once a batch is stored
    driver = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**toy_cli.env, **pause_after_rows(tmp_path / "pause", 1,
                                                                     paused, toy_cli.env)})
    try:
        wait_for(lambda: paused.exists() or driver.poll() is not None,
                 "the driver to store a batch", timeout=300)
        assert driver.poll() is None, f"the driver ended ({driver.returncode}) unpaused"
    finally:
        driver.send_signal(signal.SIGKILL)  # mid-run, surely
        driver.wait()
    with sqlite3.connect(toy_cli.index) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        stored = db.execute("SELECT count(*) FROM photos").fetchone()[0]
    assert 0 < stored < 240

    report = toy_cli.json("index", str(folder), "--ray", cluster_address, "--workers", "1")
    assert (report["unchanged"], report["new"], report["encoded"]) == \
        (stored, 240 - stored, 240 - stored)
    assert [w["encoded"] for w in report["workers"]] == [240 - stored]
    got = contents(toy_cli.index)
    assert len(got["photos"]) == len(got["vectors"]) == 240
    assert all(status == "ok" and h in got["vectors"] for h, status, _ in got["photos"].values())


def distinct_copies(folder: Path, count: int, size: tuple[int, int]) -> Path:
    """``folder`` of ``count`` JPEGs: copies of six drawings, each made distinct (a content
    hash of its own) by two bytes after the JPEG's end."""
    originals = [draw_photo(folder.with_name(f"{folder.name}-{n}.jpg"), colour, shape,
                            seed=n, size=size) for n, (colour, shape) in enumerate(CLASSES[:6])]
    folder.mkdir()
    for n in range(count):
        (folder / f"{n:03}.jpg").write_bytes(originals[n % 6].read_bytes() + n.to_bytes(2))
    return folder


def test_clear_errors_without_a_cluster(toy_cli: Cli, library: Path) -> None:
    refused = toy_cli("index", str(library), "--ray", "127.0.0.1:1", check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip() == ("photoplug: error: nothing answers at 127.0.0.1:1 "
                                      "(Connection refused): is the Ray cluster's head node up?")
    alone = toy_cli("index", str(library), "--ship-bytes", check=False)
    assert "go with --ray" in alone.stderr and alone.returncode == 1
