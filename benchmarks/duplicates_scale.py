"""Grouping duplicates at scale: approximate neighbours against the exact method, one run.

    .venv/bin/python benchmarks/duplicates_scale.py --photos 100000 --dim 768

Synthetic library: clustered vectors (similar scenes: ``--clusters`` centres, members at
cosine ~0.6-0.8 to each other), pHashes (unrelated photos random; a scene's photos share
part of its hash, so some pass the pHash bound and reach the thumbnail check) and colour
thumbnails (half the scene's smooth picture, half the photo's own); and planted groups of one shot (2-5 copies: the vector nudged, up to 12 pHash bits
flipped, the thumbnail re-exposed, cropped and noisy). Times ``group`` with the
neighbours found approximately (``approximate_pairs``), the pixel checks included, and
its pair precision and recall against the planted groups; and the exact method
(``exact_pairs``: every pair scored) in the same run, on a sample of photos (it is
quadratic: minutes at 100k) with its time scaled to the whole library, and the
approximate pairs' recall of its pairs. Prints the CPU, the times and their ratio.
"""
from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
from PIL import Image

from photoplug.duplicates.grouping import ShotCheck, approximate_pairs, exact_pairs, group
from photoplug.duplicates.looks import Look
from photoplug.media.fingerprint import THUMB_SIDE, thumbnail
from photoplug.model.machine import cpu_model


class Library:
    """The synthetic library: vectors, and each photo's look."""

    def __init__(self, photos: int, dim: int, clusters: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.seed = seed
        centres = rng.normal(size=(clusters, dim)).astype(np.float32)
        self.scene = rng.integers(0, clusters, photos)
        # a scene's photos at cosine ~0.7 to each other: 1 / (1 + 0.65 ** 2)
        self.matrix = centres[self.scene] + rng.normal(0, 0.65, (photos, dim)).astype(np.float32)
        self.matrix /= np.linalg.norm(self.matrix, axis=1, keepdims=True)
        self.scene_hash = rng.integers(0, 2 ** 63, clusters, dtype=np.int64)
        self.hash_noise = rng.integers(0, 2 ** 63, photos, dtype=np.int64)
        self.source = np.arange(photos)  # the photo each one is a copy of (itself: none)
        self.groups: list[list[int]] = []
        row = 0
        while row < photos * 0.1:  # a tenth of the photos are in planted groups
            size = int(rng.integers(2, 6))
            members = list(range(row, min(row + size, photos)))
            for m in members[1:]:
                self.source[m] = row
                nudged = self.matrix[row] + rng.normal(0, 0.15 / np.sqrt(dim), dim)
                self.matrix[m] = nudged / np.linalg.norm(nudged)
            self.groups.append(members)
            row += size
        self.looks = [self.look(row) for row in range(photos)]  # as the index holds them

    def look(self, row: int) -> Look:
        """A photo's look: its scene's picture and hash, a copy's changed as copies are."""
        lib = self
        source = int(lib.source[row])
        rng = np.random.default_rng((lib.seed, row))
        scene = int(lib.scene[source])
        picture = _picture(lib.seed, scene, source)
        phash = int(lib.scene_hash[scene]) ^ (int(lib.hash_noise[source]) & _mask(source, 36))
        if source != row:  # a copy: re-exposed, cropped, noisy, a few pHash bits flipped
            for bit in rng.choice(64, int(rng.integers(0, 13)), replace=False):
                phash ^= 1 << int(bit)
            w, h = picture.size
            left, top = rng.uniform(0, 0.05, 2) * (w, h)
            picture = picture.crop((left, top, left + 0.95 * w, top + 0.95 * h))
            lit = np.asarray(picture, np.float32) * rng.uniform(0.8, 1.25) + rng.normal(
                0, 3, (picture.height, picture.width, 3))
            picture = Image.fromarray(np.clip(lit, 0, 255).astype(np.uint8))
        return Look(phash & (2 ** 64 - 1), thumbnail(picture), 100, 100, 1.0, 0.0)


def _mask(source: int, bits: int) -> int:
    """``bits`` random bits of 64 for a photo: the part of its pHash not its scene's."""
    chosen = np.random.default_rng(source).choice(64, bits, replace=False)
    return sum(1 << int(b) for b in chosen)


def _picture(seed: int, scene: int, source: int) -> Image.Image:
    """One photo of a scene: half the scene's smooth picture, half its own."""
    fields = [np.random.default_rng((seed, scene, key)).integers(40, 216, (5, 5, 3))
              for key in (0, source + 1)]
    field = (fields[0] + fields[1]) / 2
    return Image.fromarray(field.astype(np.uint8)).resize((2 * THUMB_SIDE,) * 2,
                                                          Image.Resampling.BICUBIC)


def pair_set(groups: list[list[int]]) -> set[tuple[int, int]]:
    return {p for g in groups for p in itertools.combinations(sorted(g), 2)}


def exact_sample(matrix: np.ndarray, rows: np.ndarray) -> tuple[set[tuple[int, int]], float]:
    """The exact method's pairs for ``rows`` (each row against every photo, as
    ``exact_pairs`` scores them) and its time for the whole library, scaled from them."""
    started = time.perf_counter()
    pairs = exact_pairs(matrix, queries=rows)
    seconds = (time.perf_counter() - started) * len(matrix) / len(rows)
    return {tuple(map(int, p)) for p in pairs}, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--clusters", type=int, default=5000)
    parser.add_argument("--exact-sample", type=int, default=5000,
                        help="photos the exact method is run for (its time is scaled up)")
    args = parser.parse_args()
    print(f"CPU: {cpu_model()}; {args.photos} photos, {args.dim} dimensions, "
          f"{args.clusters} scenes")
    started = time.perf_counter()
    lib = Library(args.photos, args.dim, args.clusters)
    print(f"made in {time.perf_counter() - started:.0f} s (not timed below)")
    truth = pair_set(lib.groups)
    started = time.perf_counter()
    pairs = approximate_pairs(lib.matrix)
    found = time.perf_counter()
    grouped = pair_set(group(lib.matrix, ShotCheck(lib.looks), pairs))
    done = time.perf_counter()
    print(f"approximate: {done - started:.1f} s (neighbours {found - started:.1f} s, "
          f"pixel checks {done - found:.1f} s over {len(pairs)} pairs); planted pairs: "
          f"precision {len(grouped & truth) / max(len(grouped), 1):.4f}, recall "
          f"{len(grouped & truth) / len(truth):.4f}")
    sample = np.random.default_rng(1).choice(args.photos, args.exact_sample, replace=False)
    exact, exact_seconds = exact_sample(lib.matrix, sample)
    approximate = {tuple(map(int, p)) for p in pairs}
    print(f"exact neighbours: {exact_seconds:.1f} s for all {args.photos} photos (measured "
          f"on {args.exact_sample}); exact / approximate neighbours: "
          f"{exact_seconds / (found - started):.1f}x; approximate pairs' recall of the "
          f"exact ones: {len(exact & approximate) / len(exact):.4f}, of those that are "
          f"planted duplicates: {len(exact & truth & approximate) / len(exact & truth):.4f}")


if __name__ == "__main__":
    main()
