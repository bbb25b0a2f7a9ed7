"""Warm search latency at library sizes, against re-reading the index per query.

    .venv/bin/python benchmarks/search_latency.py --sizes 10000 100000

An index of clustered synthetic embeddings (the model's own dimension) is written for
each size; queries go through the library API as `serve` runs them (model loaded, text
encoding included). The baseline, measured in the same run, is the same search with
the in-memory matrix dropped before every query (what a fresh process pays).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from index_and_search import TOY_CLIP, random_arch_folder  # noqa: E402

from photoplug.api import Photoplug  # noqa: E402
from photoplug.search import parse_query  # noqa: E402

QUERIES = ["a dog on the beach", "sunset over the sea", "a birthday cake", "snowy mountains",
           "a receipt", "people at a concert", "a cat asleep", "a red car"]


def fill(app: Photoplug, size: int, rng: np.random.Generator) -> str:
    """A location of ``size`` photos with synthetic embeddings of the loaded model."""
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
    return uri


def p50_p95(samples: list[float]) -> str:
    ordered = sorted(samples)
    return (f"p50 {statistics.median(ordered) * 1000:6.1f} ms  "
            f"p95 {ordered[int(0.95 * (len(ordered) - 1))] * 1000:6.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--arch", default="ViT-B-32",
                    help="open_clip architecture with random weights ('toy' for toy-clip)")
    ap.add_argument("--repeat", type=int, default=40)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="photoplug-bench-") as tmp:
        model = f"local-dir:{TOY_CLIP}" if args.arch == "toy" else \
            random_arch_folder(args.arch, Path(tmp) / "model")
        app = Photoplug(index=Path(tmp) / "index.sqlite3", model=model, device="cpu")
        print(f"model {args.arch}, torch threads {torch.get_num_threads()}")
        for size in args.sizes:
            uri = fill(app, size, rng)
            app.search(parse_query(QUERIES[0]), [uri], 10)  # warm
            warm = []
            cold = []
            for i in range(args.repeat):
                q = parse_query(QUERIES[i % len(QUERIES)])
                start = time.perf_counter()
                app.search(q, [uri], 10)
                warm.append(time.perf_counter() - start)
                app.store._matrices.clear()  # baseline: the matrix is read again
                start = time.perf_counter()
                app.search(q, [uri], 10)
                cold.append(time.perf_counter() - start)
            text = []
            for i in range(args.repeat):
                start = time.perf_counter()
                app.engine(app.requested).encode_texts([QUERIES[i % len(QUERIES)]])
                text.append(time.perf_counter() - start)
            print(json.dumps({"photos": size}), f"warm {p50_p95(warm)} | re-read {p50_p95(cold)}"
                  f" | re-read/warm = {statistics.median(cold) / statistics.median(warm):.1f}x"
                  f" | text encoder alone {p50_p95(text)}")


if __name__ == "__main__":
    main()
