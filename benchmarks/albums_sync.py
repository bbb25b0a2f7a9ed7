"""Album sync and auto-tagging as pure vector math: the method in use against the previous
one (a Gaussian-mixture cut per album), side by side in the same run.

    .venv/bin/python benchmarks/albums_sync.py --photos 100000 --albums 20 --concepts 300

Synthetic, clustered embeddings (512-d, like ViT-B-32) stand in for an indexed
library; text vectors come from a lookup (what the per-model cache gives a re-sync).
Also printed: the bare matrix product of the library with every prompt, which neither
method can avoid. The albums compete against the whole vocabulary now, so a sync scores
the vocabulary too.
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from baselines import gmm_membership  # noqa: E402

from photoplug.albums.definitions import AlbumDef  # noqa: E402
from photoplug.albums.membership import Encoders, albums_members, auto_tags  # noqa: E402
from photoplug.albums.vocabulary import Concept  # noqa: E402


def clustered(n: int, dim: int, clusters: int, rng: np.random.Generator) -> np.ndarray:
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    x = centres[rng.integers(0, clusters, n)] + 0.6 * rng.standard_normal((n, dim)).astype(
        np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def timed(run: object, repeat: int) -> tuple[float, object]:
    best, out = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        out = run()  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    return best, out


def cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", type=int, default=100_000)
    ap.add_argument("--albums", type=int, default=20)
    ap.add_argument("--concepts", type=int, default=300)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    matrix = clustered(args.photos, args.dim, 200, rng)
    albums = [AlbumDef(f"album {i}", tuple(f"album {i} prompt {k}" for k in range(3)))
              for i in range(args.albums)]
    concepts = [Concept(f"concept {i}", tuple(f"a photo of concept {i} #{k}" for k in range(5)),
                        ensemble=True) for i in range(args.concepts)]
    generic = ["a photo.", "a picture.", "an image.", "a photo of something.",
               "a photo of an object."]
    texts = [p for a in albums for p in a.prompts] + [p for c in concepts for p in c.prompts]
    table = dict(zip(texts + generic, clustered(len(texts) + len(generic), args.dim, 200, rng)))

    def encode(batch: list[str]) -> np.ndarray:
        return np.stack([table[t] for t in batch])

    encoders = Encoders(encode, lambda paths: np.zeros((0, args.dim), np.float32), 100.0)
    bare, _ = timed(lambda: matrix @ encode(texts).T, args.repeat)
    old_sync, old_albums = timed(
        lambda: gmm_membership.albums_members(albums, matrix, encode), args.repeat)
    new_sync, new_albums = timed(
        lambda: albums_members(albums, matrix, encoders, concepts), args.repeat)
    old_tags, old_keywords = timed(
        lambda: gmm_membership.auto_tags(concepts, matrix, encode, 5), args.repeat)
    new_tags, new_keywords = timed(
        lambda: auto_tags(concepts, matrix, encoders, 5).keywords, args.repeat)
    print(f"{cpu()}, {args.photos} photos x {args.albums} albums x {args.concepts} concepts "
          f"({len(texts)} prompts), dim {args.dim}, best of {args.repeat}")
    print(f"  bare matrix product, every prompt  {bare:7.2f} s")
    print(f"  {'':34} {'previous':>9} {'now':>9} {'now/previous':>13}")
    print(f"  {'albums sync':34} {old_sync:8.2f}s {new_sync:8.2f}s {new_sync / old_sync:12.2f}x"
          f"   ({sum(map(len, old_albums))} -> "  # type: ignore[arg-type]
          f"{sum(len(r.members) for r in new_albums)} memberships)")  # type: ignore[union-attr]
    print(f"  {'auto-tags (at most 5 per photo)':34} {old_tags:8.2f}s {new_tags:8.2f}s "
          f"{new_tags / old_tags:12.2f}x   ({sum(map(len, old_keywords))} -> "  # type: ignore
          f"{sum(map(len, new_keywords))} keywords)")  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
