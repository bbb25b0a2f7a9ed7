"""Indexing speed and search latency, each as a ratio against a baseline measured in the same run.

    .venv/bin/python benchmarks/index_and_search.py --photos 1000
    .venv/bin/python benchmarks/index_and_search.py --arch ViT-B-32 --photos 300

Photos are drawn by toy-clip's recipe (../shared/models/toy-clip/draw.py) as JPEGs of
--size (quality 90). The model is toy-clip, or with --arch an open_clip architecture
with seeded random weights saved as a local-dir folder: the same compute as the real
model, which is what speed depends on. --backend picks what encodes images (default:
auto, the fastest exact runtime measured on this machine). Baselines:
  - bare model: the same backend on pre-decoded, preprocessed pixels (the ceiling; with
    the CPU time that reading and decoding a photo adds, the pipeline's bound on a CPU
    whose cores the model already fills);
  - seeds' loop: PIL full decode + open_clip's preprocess + torch's encode_image one by
    one, then a Python loop of cosine similarities for search (what the seed apps do).
"""
from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
TOY_CLIP = REPO.parent / "shared" / "models" / "toy-clip"
sys.path.insert(0, str(TOY_CLIP))
from draw import CLASSES, draw  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from random_models import model_folder  # noqa: E402

from photoplug.model import machine  # noqa: E402
from photoplug.api import Photoplug  # noqa: E402
from photoplug.search import parse_query, top_k  # noqa: E402
from photoplug.model.spec import BACKENDS  # noqa: E402


def make_photos(folder: Path, count: int, size: tuple[int, int]) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for n in range(count):
        colour, shape = CLASSES[n % len(CLASSES)]
        path = folder / f"{n // 100:03}" / f"{colour}_{shape}_{n:05}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        draw(colour, shape, size, rng).save(path, quality=90)
        paths.append(path)
    return paths


def measured(model: str) -> str:
    """What photoplug's probe measured on this machine for a local-dir model (its choice
    first), from the export cache of this process's XDG_CACHE_HOME."""
    from photoplug.model.image_tower import ImageTower
    from photoplug.model.spec import file_digest, local_dir_checkpoint
    tower = ImageTower.load(file_digest(local_dir_checkpoint(Path(
        model.removeprefix("local-dir:")))))
    found = tower.fastest.get(machine.signature(), {}) if tower else {}
    return f"{found.get('runtime')} ({found.get('photos_per_s')} photos/s on its probe)"


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", type=int, default=1000)
    ap.add_argument("--size", default="1600x1200", help="WxH of the generated JPEGs")
    ap.add_argument("--arch", help="open_clip architecture with random weights (e.g. ViT-B-32)")
    ap.add_argument("--baseline-photos", type=int, default=100,
                    help="photos the slow baselines run over (their rate is per photo)")
    ap.add_argument("--queries", type=int, default=30)
    ap.add_argument("--backend", default="auto", choices=BACKENDS,
                    help="what computes image embeddings (the bare model uses it too)")
    ap.add_argument("--repeat", type=int, default=2,
                    help="indexing runs (each into a new index); best and median shown")
    args = ap.parse_args()
    logging.disable(logging.WARNING)  # open_clip warns that --arch weights are random: intended
    size = tuple(int(v) for v in args.size.split("x"))

    with tempfile.TemporaryDirectory(prefix="photoplug-bench-") as tmp:
        tmp = Path(tmp)
        os.environ["XDG_CACHE_HOME"] = str(tmp / "cache")  # its exports, not the user's
        model = model_folder(args.arch, tmp / "model") if args.arch \
            else f"local-dir:{TOY_CLIP}"
        t0 = time.perf_counter()
        paths = make_photos(tmp / "photos", args.photos, size)
        print(machine.describe())
        print(f"generated {len(paths)} JPEGs of {size[0]}x{size[1]} in "
              f"{time.perf_counter() - t0:.0f} s; model {args.arch or 'toy-clip'}")

        app = Photoplug(index=tmp / "index.sqlite3", model=model, device="cpu",
                        backend=args.backend)
        engine = app.engine(app.requested)
        print(f"backend {args.backend}: images encoded by {engine.image_backend}"
              + (f"; probe: {measured(model)}" if args.backend == "auto" else ""))
        sample = paths[: args.baseline_photos]

        # ceiling: the bare model on pre-decoded pixels, batches of 32
        from PIL import Image
        with Image.open(sample[0]) as im:
            pixels = engine.preprocess(im.convert("RGB"))
        batch = np.repeat(pixels[None], 32, axis=0)
        engine.encode_pixels(batch)  # warm up
        bare_runs = [32 / t for t in timed(lambda: engine.encode_pixels(batch), 5)]

        # the seeds' loop: full decode, open_clip's preprocess, torch, one by one
        import open_clip
        _, _, open_clip_preprocess = open_clip.create_model_and_transforms(model)

        def seeds_loop() -> None:
            for p in sample:
                with Image.open(p) as im, torch.inference_mode():
                    engine.model.encode_image(open_clip_preprocess(im.convert("RGB"))[None])
        seeds = len(sample) / timed(seeds_loop, 1)[0]

        # what the pipeline adds to the model's work: reading, hashing, decoding and
        # preprocessing a photo, in CPU seconds (one thread, as each decoding thread runs)
        from photoplug.index.indexer import read
        start = time.thread_time()
        for p in sample:
            read(p, engine, set())
        decode_cpu = (time.thread_time() - start) / len(sample)

        runs = []
        for n in range(args.repeat):  # each into a new index, the engine kept loaded
            again = Photoplug(index=tmp / f"index-{n}.sqlite3", model=model, device="cpu",
                              backend=args.backend)
            again._engines[again.requested] = engine
            runs.append(again.index(again.open(str(tmp / "photos"))))
            app = again
        pipeline, bare = max(r.rate for r in runs), max(bare_runs)
        print(f"\nindexing ({runs[0].encoded} photos; best, and median, of {args.repeat} runs"
              f" and of {len(bare_runs)} bare batches)")
        print(f"  photoplug pipeline       {pipeline:8.1f} photos/s "
              f"({statistics.median(r.rate for r in runs):.1f})")
        print(f"  bare model (pre-decoded) {bare:8.1f} photos/s "
              f"({statistics.median(bare_runs):.1f})   pipeline/bare = {pipeline / bare:.2f}")
        print(f"  seeds' one-by-one loop   {seeds:8.1f} photos/s   pipeline/seeds = "
              f"{pipeline / seeds:.2f}x")
        model_cpu = machine.cpu_count() / bare  # the bare model keeps every core busy
        print(f"  reading and decoding cost {decode_cpu * 1000:.0f} ms of CPU a photo beside "
              f"the model's {model_cpu * 1000:.0f} ms ({machine.cpu_count()} cores at the bare "
              f"rate): sharing the cores, a pipeline reaches at most "
              f"{model_cpu / (model_cpu + decode_cpu):.2f} of the bare rate")

        uris = [app.open(str(tmp / "photos")).uri]
        queries = [f"a photo of a {c} {s}" for c, s in CLASSES]
        app.search(parse_query(queries[0]), uris, 10)  # warm: matrix cache of the OS, model
        lat = timed(lambda: app.search(parse_query(queries[int(time.time()) % 18]), uris, 10),
                    args.queries)
        ident = engine.identity
        model_id = app.store.find_model_id(ident.name, ident.pretrained, ident.weights_hash)
        matrix, _ = app.store.matrix([app.store.location_id(uris[0])], model_id)
        vec = engine.encode_texts([queries[0]])[0]

        def python_loop() -> None:
            scores = [float(np.dot(row, vec) / (np.linalg.norm(row) * np.linalg.norm(vec)))
                      for row in matrix]
            sorted(range(len(scores)), key=scores.__getitem__, reverse=True)[:10]
        loop = timed(python_loop, 5)
        scoring = timed(lambda: top_k(matrix, vec, 10), args.queries)
        text = timed(lambda: engine.encode_texts([queries[1]]), args.queries)
        p50, p95 = statistics.median(lat), sorted(lat)[int(0.95 * (len(lat) - 1))]
        print(f"\nsearch over {len(matrix)} photos (warm, text encoding included)")
        print(f"  photoplug   p50 {p50 * 1000:7.1f} ms   p95 {p95 * 1000:7.1f} ms "
              f"(text encoder alone p50 {statistics.median(text) * 1000:.1f} ms)")
        print(f"  scoring only: photoplug top_k p50 {statistics.median(scoring) * 1000:.2f} ms,"
              f" seeds' Python cosine loop p50 {statistics.median(loop) * 1000:.1f} ms   "
              f"loop/photoplug = {statistics.median(loop) / statistics.median(scoring):.0f}x")


if __name__ == "__main__":
    main()
