"""Groups of one shot: each photo with its nearest photos to the model (cosine of the
vectors), kept when the pixels agree (pHash, then thumbnails with a crop aligned:
``photoplug.media.fingerprint``), joined into groups (a burst chains frame to frame).

The model proposes, the pixels decide: a model may find a brightened or cropped copy
less alike than another photo of the same class (toy-clip: 0.51 against 0.998), so each
photo's ``NEIGHBOURS`` nearest are looked at, not only the most alike. They are found
exactly up to ``EXACT_UP_TO`` photos, above cell by cell (an inverted file scored in
blocks: ``approximate_pairs``). ``benchmarks/duplicates_scale.py`` measures both on 100k
photos of 768 dimensions: 17.5 s against 257 s for the exact neighbours on a 2-core EPYC,
99.5 % of the planted duplicates' pairs found. (faiss's IVF index of
``photoplug.index.ann``, queried photo by photo, took 31 s for the neighbours alone.)
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from photoplug.duplicates.looks import Look
from photoplug.media.fingerprint import (ALIKE_FRAMES, MAYBE_SAME_BITS, SAME_SHOT_FIT, crops,
                                         same_shot, whole)

EXACT_UP_TO = 20_000  # photos: exact neighbours (every pair scored); above, approximate
NEIGHBOURS = 16  # nearest photos looked at per photo
PROBES = 4  # cells of photos an approximate search looks in for a photo's neighbours
LEAST_COSINE = 0.5  # a neighbour less alike than this is never the same shot
BLOCK = 2048  # rows per matrix product
KEEP_CROPS = 2048  # photos whose crops ``ShotCheck`` keeps at once


def exact_pairs(matrix: np.ndarray, neighbours: int = NEIGHBOURS,
                least: float = LEAST_COSINE, queries: np.ndarray | None = None) -> np.ndarray:
    """Each row (of ``queries``, else every row) with each of its ``neighbours`` nearest
    rows of cosine ``least`` or more, as pairs (i < j, each once) in rows of an (m, 2)
    array: every pair scored (faiss's flat index, blocks of matrix products)."""
    import faiss
    index = faiss.IndexFlatIP(matrix.shape[1])
    index.add(np.ascontiguousarray(matrix, np.float32))
    return _neighbour_pairs(index, matrix, neighbours, least,
                            np.arange(len(matrix)) if queries is None else queries)


def approximate_pairs(matrix: np.ndarray, neighbours: int = NEIGHBOURS,
                      least: float = LEAST_COSINE, probes: int = PROBES) -> np.ndarray:
    """``exact_pairs`` looked for only near each row: the rows are split into about
    sqrt(n) cells (faiss k-means, as ``photoplug.index.ann``'s inverted file), each row
    listed in its two nearest cells; each cell's own rows are scored, in one matrix
    product, against the rows listed in the ``probes`` cells nearest to it."""
    import faiss
    data = np.ascontiguousarray(matrix, np.float32)
    count = max(2, min(int(np.sqrt(len(data))), len(data) // 40))
    kmeans = faiss.Kmeans(data.shape[1], count, niter=10, seed=0, spherical=True,
                          max_points_per_centroid=40)
    kmeans.train(data)
    cells = kmeans.index.search(data, 2)[1]
    own, listed = _by_cell(cells[:, 0], count), _by_cell(cells.ravel(), count, 2)
    nearest = np.argsort(-(kmeans.centroids @ kmeans.centroids.T), axis=1)[:, :probes]
    found = []
    for c, rows in enumerate(own):
        pool = np.unique(np.concatenate([listed[p] for p in nearest[c]] + [rows]))
        k = min(neighbours, len(pool) - 1)
        if not len(rows) or k < 1:
            continue
        scores = data[rows] @ data[pool].T
        scores[rows[:, None] == pool[None, :]] = -np.inf  # not itself
        near = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        keep = (np.take_along_axis(scores, near, axis=1) >= least).ravel()
        i, j = np.repeat(rows, k), pool[near.ravel()]
        found.append(np.stack([np.minimum(i, j)[keep], np.maximum(i, j)[keep]], axis=1))
    pairs = np.concatenate(found) if found else np.zeros((0, 2), np.int64)
    return np.unique(pairs.astype(np.int64), axis=0)


def _by_cell(cell: np.ndarray, count: int, per_row: int = 1) -> list[np.ndarray]:
    """The rows in each of ``count`` cells (``cell``: each row's cell, ``per_row`` a row)."""
    order = np.argsort(cell, kind="stable")
    return np.split(order // per_row, np.searchsorted(cell[order], np.arange(1, count)))


def _neighbour_pairs(index: Any, matrix: np.ndarray, neighbours: int, least: float,
                     queries: np.ndarray) -> np.ndarray:
    """The pairs of ``queries``' neighbours in ``index``, their cosines computed exactly."""
    found = []
    for start in range(0, len(queries), BLOCK):
        rows = queries[start:start + BLOCK]
        block = np.ascontiguousarray(matrix[rows], np.float32)
        _, near = index.search(block, min(neighbours + 1, len(matrix)))
        valid = (near >= 0) & (near != rows[:, None])
        scores = np.einsum("id,ikd->ik", block, np.asarray(
            matrix, np.float32)[np.where(valid, near, 0)])
        i = np.repeat(rows, near.shape[1])
        j, keep = near.ravel(), (valid & (scores >= least)).ravel()
        found.append(np.stack([np.minimum(i, j)[keep], np.maximum(i, j)[keep]], axis=1))
    pairs = np.concatenate(found) if found else np.zeros((0, 2), np.int64)
    return np.unique(pairs.astype(np.int64), axis=0)


def alike_pairs(matrix: np.ndarray) -> np.ndarray:
    """The model's alike pairs: exactly or approximately, by the library's size."""
    return exact_pairs(matrix) if len(matrix) <= EXACT_UP_TO else approximate_pairs(matrix)


class ShotCheck:
    """Which pairs do the pixels say are one shot? The pHashes, then the whole frames (both
    for many pairs at once; frames that fit need no crop), then crops (costly: only for
    frames alike that do not fit); a photo's crops are kept for its next pairs (the
    latest ``KEEP_CROPS`` photos')."""

    def __init__(self, looks: Sequence[Look | None]) -> None:
        self.looks = looks
        readable = [k is not None and not k.reason for k in looks]
        self.readable = np.array(readable, bool)
        self.phashes = np.array([k.phash if ok else 0 for k, ok in zip(looks, readable)],
                                np.uint64)
        self._crops: dict[int, np.ndarray] = {}

    def __call__(self, pairs: np.ndarray) -> np.ndarray:
        """The pairs (rows of an (m, 2) array) that are one shot."""
        i, j = pairs[:, 0], pairs[:, 1]
        bits = _BITS[(self.phashes[i] ^ self.phashes[j]).view(np.uint8).reshape(-1, 8)]
        pairs = pairs[self.readable[i] & self.readable[j]
                      & (bits.sum(axis=1) <= MAYBE_SAME_BITS)]
        fits = np.concatenate([self._frames(pairs[start:start + BLOCK])
                               for start in range(0, len(pairs), BLOCK)] or [np.zeros(0)])
        same = fits >= SAME_SHOT_FIT  # the whole frames fit: no crop can fit less
        maybe = np.flatnonzero(~same & (fits >= ALIKE_FRAMES))
        with threadpool_limits(1):  # small products: one thread each is fastest
            same[maybe] = [same_shot(self._crops_of(int(a)), self._crops_of(int(b)))
                           >= SAME_SHOT_FIT for a, b in pairs[maybe]]
        return pairs[same].reshape(-1, 2)

    def _frames(self, pairs: np.ndarray) -> np.ndarray:
        """How well each pair's whole frames correlate."""
        rows, at = np.unique(pairs, return_inverse=True)
        wholes = np.stack([whole(self.looks[r].thumb) for r in rows])  # type: ignore[union-attr]
        at = at.reshape(-1, 2)
        return np.einsum("id,id->i", wholes[at[:, 0]], wholes[at[:, 1]])

    def _crops_of(self, row: int) -> np.ndarray:
        if row not in self._crops:
            if len(self._crops) >= KEEP_CROPS:
                self._crops.clear()
            self._crops[row] = crops(self.looks[row].thumb)  # type: ignore[union-attr]
        return self._crops[row]


_BITS = np.array([bin(n).count("1") for n in range(256)], np.uint8)  # set bits of a byte


def components(count: int, pairs: np.ndarray) -> list[list[int]]:
    """The connected groups (two or more rows, each ascending) that ``pairs`` join, in
    order of their first row."""
    parent = list(range(count))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j in pairs:
        a, b = root(int(i)), root(int(j))
        if a != b:
            parent[max(a, b)] = min(a, b)
    groups: dict[int, list[int]] = {}
    for row in range(count):
        groups.setdefault(root(row), []).append(row)
    return [g for _, g in sorted(groups.items()) if len(g) > 1]


def group(matrix: np.ndarray, same: Callable[[np.ndarray], np.ndarray],
          pairs: np.ndarray | None = None) -> list[list[int]]:
    """Groups of rows of ``matrix`` that are one shot: alike to the model (``pairs``,
    else ``alike_pairs``) and kept by ``same`` (such as a ``ShotCheck``)."""
    pairs = alike_pairs(matrix) if pairs is None else pairs
    return components(len(matrix), same(pairs.reshape(-1, 2)))
