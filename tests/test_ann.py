"""Approximate search: recall against exact search on clustered embeddings, and the
switch-over inside a real search."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import photoplug.search
from conftest import draw_photo
from photoplug.index.ann import ApproximateIndex
from photoplug.api import Photoplug
from photoplug.search import parse_query, top_k


def clustered(n: int, dim: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Rows around 200 centres, and queries that sit off the data (as text queries do)."""
    centres = rng.standard_normal((200, dim)).astype(np.float32)
    rows = centres[rng.integers(0, 200, n)] + 0.8 * rng.standard_normal((n, dim)).astype(
        np.float32)
    queries = centres[rng.integers(0, 200, 60)] + 1.2 * rng.standard_normal((60, dim)).astype(
        np.float32)
    for a in (rows, queries):
        a /= np.linalg.norm(a, axis=1, keepdims=True)
    return rows, queries


def test_recall_at_10_against_exact_search(tmp_path: Path) -> None:
    rows, queries = clustered(80_000, 64, np.random.default_rng(0))
    index = ApproximateIndex.build(rows)
    index.save(tmp_path / "x.ivf")
    index = ApproximateIndex.load(tmp_path / "x.ivf")
    hits = []
    for q in queries:
        exact, exact_scores = top_k(rows, q, 10)
        found, scores = index.search(rows, q, 10)
        hits.append(len(set(exact) & set(found)))
        np.testing.assert_allclose(scores, rows[found] @ q, rtol=1e-6)  # true cosines
    assert sum(hits) / (10 * len(queries)) >= 0.99


def test_large_libraries_switch_to_the_approximate_index(tmp_path: Path, tiny_model: str,
                                                          monkeypatch) -> None:
    for n, (colour, shape) in enumerate([("red", "circle"), ("blue", "square"),
                                         ("green", "triangle")] * 2):
        draw_photo(tmp_path / "p" / f"{n}.jpg", colour, shape, seed=n, size=(200, 150))
    app = Photoplug(index=tmp_path / "i.sqlite3", model=tiny_model)
    library = app.open(str(tmp_path / "p"))
    app.index(library)
    everything = app.search(parse_query("a red circle"), [library.uri], top=6)  # exact
    assert len(everything) == 6
    exact = everything[:4]
    monkeypatch.setattr(photoplug.search, "APPROXIMATE_ABOVE", 1)
    approx = app.search(parse_query("a red circle"), [library.uri], top=4)
    assert list((tmp_path / "i.sqlite3.cache").glob("*.ivf")), "the approximate index is used"
    assert_same_results(approx, exact, everything)


def assert_same_results(approx: list, exact: list, everything: list, tol: float = 1e-4
                        ) -> None:
    """Approximate search returns what exact search does, as sets and scores: each of its
    results with its exact score (within ``tol``: the two compute it differently), best
    first, and the exact top set, except where a score within ``tol`` of the last one
    makes either of a near tie a right answer."""
    assert exact and len(approx) == len(exact)
    true = {r.id: r.score for r in everything}
    for r in approx:
        assert r.score == pytest.approx(true[r.id], abs=tol), (r.id, r.score, true[r.id])
    scores = [r.score for r in approx]
    assert all(a >= b - tol for a, b in zip(scores, scores[1:])), scores
    last = exact[-1].score
    sure = {r.id for r in exact if r.score > last + tol}  # every right answer holds these
    possible = {i for i, s in true.items() if s >= last - tol}
    assert sure <= {r.id for r in approx} <= possible, (approx, exact)
