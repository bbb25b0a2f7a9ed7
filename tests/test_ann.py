"""Approximate search: recall against exact search on clustered embeddings, and the
switch-over inside a real search."""
from __future__ import annotations

from pathlib import Path

import numpy as np

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
    exact = app.search(parse_query("a red circle"), [library.uri], top=4)
    monkeypatch.setattr(photoplug.search, "APPROXIMATE_ABOVE", 1)
    approx = app.search(parse_query("a red circle"), [library.uri], top=4)
    assert [(r.id, round(r.score, 5)) for r in approx] == \
        [(r.id, round(r.score, 5)) for r in exact]
    assert list((tmp_path / "i.sqlite3.cache").glob("*.ivf"))
