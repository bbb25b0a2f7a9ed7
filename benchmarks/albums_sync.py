"""Album sync and auto-tagging as pure vector math, against the bare matrix product.

    .venv/bin/python benchmarks/albums_sync.py --photos 100000 --albums 20 --concepts 300

Synthetic, clustered embeddings (512-d, like ViT-B-32) stand in for an indexed
library; text vectors come from a lookup (what the per-model cache gives a re-sync).
The baseline, measured in the same run, is the unavoidable part: one matrix product of
the library with every prompt. The ratio says what calibration and membership add.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from photoplug.albums import AlbumDef
from photoplug.membership import Concept, albums_members, auto_tags


def clustered(n: int, dim: int, clusters: int, rng: np.random.Generator) -> np.ndarray:
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    x = centres[rng.integers(0, clusters, n)] + 0.6 * rng.standard_normal((n, dim)).astype(
        np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", type=int, default=100_000)
    ap.add_argument("--albums", type=int, default=20)
    ap.add_argument("--concepts", type=int, default=300)
    ap.add_argument("--dim", type=int, default=512)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    matrix = clustered(args.photos, args.dim, 200, rng)
    albums = [AlbumDef(f"album {i}", tuple(f"album {i} prompt {k}" for k in range(3)))
              for i in range(args.albums)]
    concepts = [Concept(f"concept {i}", tuple(f"a photo of concept {i} #{k}" for k in range(5)),
                        ensemble=True) for i in range(args.concepts)]
    texts = [p for a in albums for p in a.prompts] + [p for c in concepts for p in c.prompts]
    table = dict(zip(texts, clustered(len(texts), args.dim, 200, rng)))

    def encode(batch: list[str]) -> np.ndarray:
        return np.stack([table[t] for t in batch])

    start = time.perf_counter()
    _ = matrix @ encode(texts).T
    bare = time.perf_counter() - start
    start = time.perf_counter()
    results = albums_members(albums, matrix, encode, engine=None)
    sync = time.perf_counter() - start
    start = time.perf_counter()
    tags = auto_tags(concepts, matrix, encode, max_per_photo=5)
    tagging = time.perf_counter() - start
    print(f"{args.photos} photos x {args.albums} albums x {args.concepts} concepts "
          f"({len(texts)} prompts), dim {args.dim}")
    print(f"  bare matrix product (baseline)  {bare:7.2f} s")
    print(f"  albums sync (membership)        {sync:7.2f} s   "
          f"({sum(len(r.members) for r in results)} memberships)")
    print(f"  auto-tags (calibrated, capped)  {tagging:7.2f} s   "
          f"({sum(map(len, tags))} keywords)")
    print(f"  (sync + tags) / bare = {(sync + tagging) / bare:.1f}x")


if __name__ == "__main__":
    main()
