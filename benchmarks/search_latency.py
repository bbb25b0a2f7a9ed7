"""Search latency at library sizes: warm and cold, exact and approximate, with baselines.

    .venv/bin/python benchmarks/search_latency.py --sizes 10000 100000 1000000

For each size an index of clustered synthetic embeddings (the model's own dimension,
300 centres) is written. Then, all in one run:
  - warm: queries through the library API as `serve` runs them (text encoding included),
    exact and, from --approximate-from photos on, through the approximate index, with
    recall@10 against exact search;
  - the text encoder alone: photoplug's numpy tower over real tokens, and open_clip's
    encode_text over 77 padded tokens;
  - baselines: the previous path that rebuilt the matrix from the index per query (what
    a fresh process paid before the cache file), and the seeds' Python loop of cosines;
  - cold: `photoplug search` as a new process (imports, model load, query, print), and
    `photoplug --help`; peak memory of this process.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from index_and_search import TOY_CLIP  # noqa: E402
from random_models import model_folder  # noqa: E402

from photoplug.index.ann import APPROXIMATE_ABOVE  # noqa: E402
from photoplug.api import Photoplug  # noqa: E402
from photoplug.search import parse_query, query_vector, top_k  # noqa: E402

QUERIES = ["a dog on the beach", "sunset over the sea", "a birthday cake", "snowy mountains",
           "a receipt", "people at a concert", "a cat asleep", "a red car"]


def fill(app: Photoplug, size: int, rng: np.random.Generator) -> tuple[str, np.ndarray]:
    """A location of ``size`` photos with clustered synthetic embeddings of the model, and
    the cluster centres."""
    engine = app.engine(app.requested)
    ident = engine.identity
    model_id = app.store.model_id(ident.name, ident.pretrained, ident.weights_hash, ident.dim)
    uri = f"folder:/synthetic/{size}"
    location_id = app.store.ensure_location(uri)
    app.store.set_location(location_id, model_id=model_id)
    centres = rng.standard_normal((300, ident.dim)).astype(np.float32)
    with app.store.transaction() as db:
        for start in range(0, size, 10_000):
            n = min(10_000, size - start)
            x = centres[rng.integers(0, 300, n)] + 0.7 * rng.standard_normal(
                (n, ident.dim)).astype(np.float32)
            x /= np.linalg.norm(x, axis=1, keepdims=True)
            for k in range(n):
                h = f"{size}-{start + k}"
                app.store.put_embedding(db, model_id, h, x[k])
                app.store.upsert_photo(db, location_id, h, f"/synthetic/{h}.jpg", 1, 0.0, h,
                                       "ok", None, {})
    return uri, centres


def off_data_queries(centres: np.ndarray, rng: np.random.Generator, n: int = 50
                     ) -> np.ndarray:
    """Query vectors that relate to the clusters but sit well off the data, as CLIP text
    embeddings sit off the image embeddings (random-weight text towers relate to nothing,
    so they cannot stand in for queries when measuring recall)."""
    q = centres[rng.integers(0, len(centres), n)] + 1.2 * rng.standard_normal(
        (n, centres.shape[1])).astype(np.float32)
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def p50_p95(samples: list[float]) -> str:
    ordered = sorted(samples)
    return (f"p50 {statistics.median(ordered) * 1000:7.1f} ms  "
            f"p95 {ordered[int(0.95 * (len(ordered) - 1))] * 1000:7.1f} ms")


def timed(fn, repeat: int) -> list[float]:
    out = []
    for i in range(repeat):
        start = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - start)
    return out


def cold_cli(args: list[str], env: dict[str, str], repeat: int = 3) -> list[float]:
    """Wall time of the installed console script, a new process each time."""
    exe = str(Path(sys.executable).with_name("photoplug"))
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([exe, *args], env=env, check=True, capture_output=True)
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--arch", default="ViT-B-32",
                    help="open_clip architecture with random weights ('toy' for toy-clip)")
    ap.add_argument("--repeat", type=int, default=40)
    ap.add_argument("--approximate-from", type=int, default=100_000,
                    help="also measure the approximate index from this size on")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="photoplug-bench-") as tmp:
        model = f"local-dir:{TOY_CLIP}" if args.arch == "toy" else \
            model_folder(args.arch, Path(tmp) / "model")
        index = Path(tmp) / "index.sqlite3"
        app = Photoplug(index=index, model=model, device="cpu")
        engine = app.engine(app.requested)
        print(f"model {args.arch}, {os.cpu_count()} CPUs, torch threads "
              f"{torch.get_num_threads()}")
        tower = engine.text_tower()
        text = timed(lambda i: tower.encode([QUERIES[i % 8]]), args.repeat)
        with torch.inference_mode():
            padded = timed(lambda i: engine.model.encode_text(engine.tokenizer([QUERIES[i % 8]])),
                           args.repeat)
        print(f"text encoder: numpy tower, real tokens {p50_p95(text)} | open_clip, 77 tokens "
              f"{p50_p95(padded)} | ratio {statistics.median(padded) / statistics.median(text):.1f}x")
        env = {**os.environ, "PHOTOPLUG_INDEX": str(index)}
        for size in args.sizes:
            uri, centres = fill(app, size, rng)
            location_id = app.store.location_id(uri)
            model_id = app.model_id(engine)
            q = lambda i: parse_query(QUERIES[i % 8])  # noqa: E731
            app.search(q(0), [uri], 10)  # builds the cache file
            warm = timed(lambda i: app.search(q(i), [uri], 10), args.repeat)
            print(f"\n{size} photos")
            print(f"  warm search, library API (text included) {p50_p95(warm)}  "
                  f"({'approximate' if size >= APPROXIMATE_ABOVE else 'exact'} at this size)")

            matrix, _ = app.store.vectors([location_id], model_id)
            if size >= args.approximate_from:
                for built_before in app.store.cache_dir().glob("*.ivf"):
                    built_before.unlink()
                app.store._approximate.clear()
                start = time.perf_counter()
                approx_index = app.store.approximate([location_id], model_id)
                built = time.perf_counter() - start
                probes = off_data_queries(centres, rng)
                recall = np.mean([len(set(top_k(matrix, v, 10)[0]) & set(
                    approx_index.search(matrix, v, 10)[0])) / 10 for v in probes])
                exact = timed(lambda i: (tower.encode([QUERIES[i % 8]]), top_k(
                    matrix, probes[i % len(probes)], 10)), args.repeat)
                approx = timed(lambda i: (tower.encode([QUERIES[i % 8]]), approx_index.search(
                    matrix, probes[i % len(probes)], 10)), args.repeat)
                print(f"  text + exact top-10 (off-data queries)   {p50_p95(exact)}")
                print(f"  text + approximate top-10                {p50_p95(approx)}  "
                      f"recall@10 {recall:.3f}  (index built in {built:.1f} s)")

            def rebuilt(i: int) -> None:  # the old path: matrix rebuilt from the index
                app.store._load_vectors([location_id], model_id)
                top_k(matrix, query_vector(q(i), engine), 10)
            old = timed(rebuilt, 3)
            print(f"  baseline, matrix rebuilt per query       {p50_p95(old)}  "
                  f"= {statistics.median(old) / statistics.median(warm):.0f}x warm")

            rows = [np.asarray(r) for r in matrix[:min(size, 100_000)]]

            def seeds(i: int) -> None:  # the seeds' loop of cosines (on 100k rows at most)
                v = query_vector(q(i), engine)
                sorted(((float(np.dot(r, v)) / (np.linalg.norm(r) * np.linalg.norm(v)), k)
                        for k, r in enumerate(rows)), reverse=True)[:10]
            loop = [t * size / len(rows) for t in timed(seeds, 3)]
            print(f"  baseline, seeds' Python cosine loop      {p50_p95(loop)}  "
                  f"= {statistics.median(loop) / statistics.median(warm):.0f}x warm"
                  f"{' (scaled from 100k)' if size > 100_000 else ''}")
            cold = cold_cli(["search", QUERIES[1], uri, "--top", "10"], env)
            print(f"  cold `photoplug search` (new process)    {p50_p95(cold)}")
            print(f"  matrix {matrix.nbytes / 2**20:.0f} MiB float32 (memory-mapped), peak RSS "
                  f"of this process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}"
                  f" MiB")
            del rows
            shutil.rmtree(app.store.cache_dir(), ignore_errors=True)
            app.store.forget(location_id)
        helps = cold_cli(["--help"], env, 5)
        print(f"\n`photoplug --help` {p50_p95(helps)}")


if __name__ == "__main__":
    main()
