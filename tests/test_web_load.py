"""The search page under load, on loopback: many first-time thumbnail (photos and video
frames), photo and search requests at once against a real ``photoplug serve`` on a fresh
thumbnail cache. Every one is answered, every thumbnail made once and whole, and the
server's memory stays bounded. Bounded in count (a few hundred requests) and in time."""
from __future__ import annotations

import io
import json
import random
import statistics
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import psutil
import pytest
from PIL import Image

from conftest import CLASSES, Cli, draw_photo
from photo_factory import video
from photoplug.hooks import SearchResult
from photoplug.media import thumbnails
from photoplug.web.contact_sheet import contact_sheet
from test_web import ARTIFACTS, Library, get, serving

THUMBS, PHOTOS, SEARCHES, AT_ONCE = 240, 60, 40, 16
VIDEO_TIMES = (0, 1, 2, 3)  # seconds: the frames each video's thumbnails are asked at
MAX_GROWTH = 300 * 2**20  # bytes of server memory the load may add
MAX_SECONDS = 180  # for the whole load


@pytest.fixture(scope="module")
def load_library(tmp_path_factory: pytest.TempPathFactory, toy_model: str) -> Library:
    """toy-clip's 18 classes twice over, and two short videos; nothing refused."""
    root = tmp_path_factory.mktemp("web-load")
    photos = root / "photos"
    for n, (colour, shape) in enumerate(CLASSES):
        for k in range(2):
            draw_photo(photos / ("sub" if k else "") / f"{colour}_{shape}_{k}.jpg", colour,
                       shape, seed=11 * n + k, size=(1200, 900))
    video(photos / "clips" / "blue_then_red.mp4", [("blue", "square", 2.0),
                                                   ("red", "circle", 2.0)])
    video(photos / "clips" / "green_then_yellow.mp4", [("green", "circle", 2.0),
                                                       ("yellow", "triangle", 2.0)])
    albums = root / "albums.toml"
    albums.write_text('[[album]]\nname = "red things"\nprompts = ["a photo of a red circle"]\n')
    cli = Cli(root / "index.sqlite3", toy_model)
    cli("index", str(photos))
    env = {**cli.env, "PHOTOPLUG_CACHE": str(root / "cache")}
    env.pop("PHOTOPLUG_TOKEN", None)
    return Library(root, photos, albums, env)


def memory(process: psutil.Process) -> int:
    """Resident memory of the server and any processes it started."""
    total = process.memory_info().rss
    for child in process.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


class Sampler(threading.Thread):
    """The server's memory every 50 ms, its peak kept."""

    def __init__(self, process: psutil.Process) -> None:
        super().__init__(daemon=True)
        self.process, self.peak, self.done = process, memory(process), threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.05):
            self.peak = max(self.peak, memory(self.process))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def test_many_first_requests_at_once(load_library: Library) -> None:
    """240 thumbnails (each asked 5-6 times in a row, so first requests for one thumbnail
    race), 60 photos and 40 searches, 16 at once, on a fresh cache: all answered 200,
    every thumbnail a JPEG that decodes, the same bytes each time, one file per thumbnail in
    the cache; the server grows by less than 300 MB."""
    cache = Path(load_library.env["PHOTOPLUG_CACHE"]) / "thumbnails"
    with serving(load_library) as served:
        process = psutil.Process(served.pid)
        status, body, _ = get(served.base + "api/search?q=a+photo&top=1000")  # model loaded
        assert status == 200
        items = json.loads(body)
        assert len(items) == 38  # 36 photos, 2 videos
        assert not cache.exists() or not any(cache.rglob("*.jpg")), "the cache is not fresh"
        videos = [i for i in items if i["id"].endswith(".mp4")]
        assert len(videos) == 2 and all("?t=" in i["thumb"] for i in videos)
        distinct = sorted({i["thumb"] for i in items} | {
            f"{i['thumb'].split('?')[0]}?t={t}" for i in videos for t in VIDEO_TIMES})
        rng = random.Random(26)
        rng.shuffle(distinct)
        thumbs = [distinct[n * len(distinct) // THUMBS] for n in range(THUMBS)]  # in runs
        photos = [rng.choice(items)["photo"] for _ in range(PHOTOS)]
        words = [f"a photo of a {c} {s}" for c, s in CLASSES]
        searches = [f"/api/search?top=20&q={quote(rng.choice(words))}"
                    for _ in range(SEARCHES)]
        others = [("photo", p) for p in photos] + [("search", s) for s in searches]
        rng.shuffle(others)
        tasks: list[tuple[str, str]] = [("thumb", t) for t in thumbs]
        for n, task in enumerate(others):  # spread among the thumbnails
            tasks.insert(round(n * (len(tasks) + 1) / len(others)), task)

        def fetch(task: tuple[str, str]) -> tuple[str, str, int, bytes, float]:
            kind, path = task
            started = time.perf_counter()
            status, body, _ = get(served.base + path.lstrip("/"))
            return kind, path, status, body, time.perf_counter() - started

        baseline = memory(process)
        sampler = Sampler(process)
        sampler.start()
        started = time.perf_counter()
        with ThreadPoolExecutor(AT_ONCE) as pool:
            answers = list(pool.map(fetch, tasks))
        wall = time.perf_counter() - started
        sampler.done.set()
        sampler.join()
        growth = sampler.peak - baseline

        failures = [(kind, path, status) for kind, path, status, _, _ in answers
                    if status != 200]
        seen: dict[str, set[bytes]] = defaultdict(set)
        for kind, path, status, body, _ in answers:
            if kind == "thumb" and status == 200:
                seen[path].add(body)
                with Image.open(io.BytesIO(body)) as image:
                    assert image.format == "JPEG" and max(image.size) <= thumbnails.SIZE
                    image.load()
            elif kind == "photo" and status == 200:
                photo_id = path.split("/", 3)[3]
                assert body == (served.photos / unquote(photo_id)).read_bytes()
            elif kind == "search" and status == 200:
                assert len(json.loads(body)) == 20
        again = {path: get(served.base + path.lstrip("/"))[1] for path in distinct}
        final = memory(process)

    latency = defaultdict(list)
    for kind, _, _, _, seconds in answers:
        latency[kind].append(seconds * 1000)
    report = {"requests": len(answers), "at_once": AT_ONCE, "wall_s": round(wall, 2),
              "failures": len(failures), "distinct_thumbnails": len(distinct),
              "baseline_rss_mb": round(baseline / 2**20, 1),
              "peak_growth_mb": round(growth / 2**20, 1),
              "growth_after_mb": round((final - baseline) / 2**20, 1),
              **{f"{kind}_ms": {"n": len(ms), "p50": round(statistics.median(ms), 1),
                                "p95": round(percentile(ms, 0.95), 1),
                                "max": round(max(ms), 1)}
                 for kind, ms in sorted(latency.items())}}
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "web-load.json").write_text(json.dumps(report, indent=2))
    print("\nweb load:", json.dumps(report))

    assert failures == [], failures
    assert Counter(kind for kind, *_ in answers) == {"thumb": THUMBS, "photo": PHOTOS,
                                                     "search": SEARCHES}
    assert set(seen) == set(distinct)
    assert all(len(bodies) == 1 for bodies in seen.values()), "a thumbnail made twice"
    assert all(again[path] in seen[path] for path in distinct), "remade from the cache"
    assert sorted(p.suffix for p in cache.rglob("*") if p.is_file()) == \
        [".jpg"] * len(distinct)  # one file each, no temporary file left behind
    assert growth < MAX_GROWTH, report
    assert wall < MAX_SECONDS, report


def test_a_thumbnail_is_made_once_however_many_ask(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """48 threads released at once for three thumbnails (a photo, two frames of a video):
    each made once; everyone gets the same whole JPEG."""
    monkeypatch.setenv("PHOTOPLUG_CACHE", str(tmp_path / "cache"))
    photo = draw_photo(tmp_path / "p" / "red_circle.jpg", "red", "circle", seed=1)
    clip = video(tmp_path / "p" / "clip.mp4", [("blue", "square", 2.0), ("red", "circle", 2.0)])
    made: Counter[Any] = Counter()
    real_decode, real_frame_at = thumbnails.decode, thumbnails.frame_at

    def slow_decode(data: bytes, path: Path, size: int) -> Image.Image:
        made[path.name] += 1
        time.sleep(0.2)  # a wide window for a second maker
        return real_decode(data, path, size)

    def slow_frame_at(path: Path, at: float, size: int) -> Image.Image:
        made[(path.name, at)] += 1
        time.sleep(0.2)
        return real_frame_at(path, at, size)

    monkeypatch.setattr(thumbnails, "decode", slow_decode)
    monkeypatch.setattr(thumbnails, "frame_at", slow_frame_at)
    asks = [(photo, None), (clip, 0.0), (clip, 2.0)] * 16
    start = threading.Barrier(len(asks))

    def ask(args: tuple[Path, float | None]) -> tuple[tuple[str, Any], bytes]:
        start.wait(timeout=30)
        return (args[0].name, args[1]), thumbnails.thumbnail(args[0], time=args[1])

    with ThreadPoolExecutor(len(asks)) as pool:
        answers = list(pool.map(ask, asks))
    assert made == {"red_circle.jpg": 1, ("clip.mp4", 0.0): 1, ("clip.mp4", 2.0): 1}
    by_key: dict[tuple[str, Any], set[bytes]] = defaultdict(set)
    for key, data in answers:
        by_key[key].add(data)
    assert len(by_key) == 3 and all(len(v) == 1 for v in by_key.values())
    for (data,) in by_key.values():
        Image.open(io.BytesIO(data)).verify()
    files = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert sorted(p.suffix for p in files) == [".jpg"] * 3


def test_writers_in_other_processes_never_leave_half_a_thumbnail(tmp_path: Path) -> None:
    """The per-process lock cannot stop another process (the page and a contact sheet at
    once): each writer has its own temporary file and renames it into place, so the file
    is always one writer's whole bytes, and nothing is left behind."""
    target = tmp_path / "ab" / "abcdef.jpg"
    payloads = [bytes([n]) * (200_000 + n) for n in range(16)]
    start = threading.Barrier(len(payloads))

    def write(data: bytes) -> None:
        start.wait(timeout=30)
        for _ in range(20):
            thumbnails._write(target, data)
            assert target.read_bytes() in payloads

    with ThreadPoolExecutor(len(payloads)) as pool:
        list(pool.map(write, payloads))
    assert target.read_bytes() in payloads
    assert [p.name for p in target.parent.iterdir()] == ["abcdef.jpg"]


def test_contact_sheets_made_at_once_have_every_thumbnail(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    monkeypatch.setenv("PHOTOPLUG_CACHE", str(tmp_path / "cache"))
    photo = draw_photo(tmp_path / "p" / "red_circle.jpg", "red", "circle", seed=2)
    clip = video(tmp_path / "p" / "clip.mp4", [("blue", "square", 2.0), ("red", "circle", 2.0)])
    results = [SearchResult(photo, 0.5, "red_circle.jpg", "folder:x"),
               SearchResult(clip, 0.4, "clip.mp4", "folder:x", time=2.0)]
    with ThreadPoolExecutor(8) as pool:
        sheets = list(pool.map(lambda _: contact_sheet("red", results), range(8)))
    assert len(set(sheets)) == 1
    assert sheets[0].count("data:image/jpeg;base64,") == 2 and "unreadable" not in sheets[0]
