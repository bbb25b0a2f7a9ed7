"""Approximate search for large libraries: a faiss inverted-file index over the matrix.

Above ``APPROXIMATE_ABOVE`` photos an exact scan costs ~100 ms per million photos on a
laptop CPU; an IVF index with 8-bit scalar-quantised vectors (a quarter of the float32
matrix's memory) scans only the lists nearest the query, and its candidates are
re-scored exactly against the float32 matrix, so the scores shown are true cosines.
``benchmarks/search_latency.py`` measures recall@10 against exact search.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

APPROXIMATE_ABOVE = 250_000
RESCORE = 64  # candidates re-scored exactly, at least


class ApproximateIndex:
    """faiss ``IVF{nlist},SQ8`` with inner-product metric over normalised rows."""

    def __init__(self, index: object) -> None:
        self.index = index

    @classmethod
    def build(cls, matrix: np.ndarray, seed: int = 0) -> ApproximateIndex:
        import faiss
        n, dim = matrix.shape
        nlist = max(1, min(int(np.sqrt(n)), n // 40, 4096))  # >= 40 training rows a list
        index = faiss.IndexIVFScalarQuantizer(faiss.IndexFlatIP(dim), dim, nlist,
                                              faiss.ScalarQuantizer.QT_8bit,
                                              faiss.METRIC_INNER_PRODUCT)
        sample = np.sort(np.random.default_rng(seed).choice(n, min(n, 40 * nlist),
                                                            replace=False))
        index.train(np.ascontiguousarray(matrix[sample], dtype=np.float32))
        for start in range(0, n, 100_000):
            index.add(np.ascontiguousarray(matrix[start:start + 100_000], dtype=np.float32))
        index.nprobe = min(nlist, max(8, nlist // 32))
        return cls(index)

    def search(self, matrix: np.ndarray, vector: np.ndarray, k: int
               ) -> tuple[np.ndarray, np.ndarray]:
        """Rows and exact scores of the best ``k``, best first."""
        _, found = self.index.search(vector[None].astype(np.float32), max(k, RESCORE))
        rows = np.sort(found[0][found[0] >= 0])
        scores = np.asarray(matrix[rows]) @ vector
        order = np.argsort(-scores, kind="stable")[:k]
        return rows[order], scores[order]

    def save(self, path: Path) -> None:
        import faiss
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        faiss.write_index(self.index, str(tmp))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> ApproximateIndex | None:
        import faiss
        try:
            return cls(faiss.read_index(str(path)))
        except (OSError, RuntimeError):
            return None
