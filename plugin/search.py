"""Queries (rclip's grammar) and exact search over the index's embeddings.

A query is text, or an image when it names an existing file; ``--add``/``+`` and
``--subtract``/``-`` combine more, and a ``2.5:`` prefix weights one. The combined vector
is the weighted sum of the normalised term embeddings, normalised again, so a score is
a cosine similarity.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Collection, Mapping, Sequence

import numpy as np

from photoplug.decode import Unreadable, decode
from photoplug.errors import PhotoplugError
from photoplug.hooks import Query, QueryTerm, SearchResult
from photoplug.store import IndexStore

if TYPE_CHECKING:
    from photoplug.engine import Engine

_WEIGHT = re.compile(r"^(\d+(?:\.\d*)?|\.\d+):(.+)$", re.S)


def parse_term(value: str, sign: float) -> QueryTerm:
    """One query part: ``2.5:text``, an image path, or text."""
    weight = 1.0
    match = _WEIGHT.match(value)
    if match and not Path(value).expanduser().is_file():
        weight, value = float(match.group(1)), match.group(2)
    if not value.strip():
        raise PhotoplugError("empty query: say what the photos show, e.g. "
                             "`photoplug search \"beach at sunset\"`")
    path = Path(value).expanduser()
    if path.is_file():
        return QueryTerm(str(path.resolve()), sign * weight, is_image=True)
    return QueryTerm(value, sign * weight)


def parse_query(main: str, add: Sequence[str] = (), subtract: Sequence[str] = ()) -> Query:
    terms = [parse_term(main, 1.0)]
    terms += [parse_term(v, 1.0) for v in add]
    terms += [parse_term(v, -1.0) for v in subtract]
    return Query(tuple(terms))


def query_vector(query: Query, engine: Engine) -> np.ndarray:
    """The normalised combined embedding of all terms."""
    texts = [t for t in query.terms if not t.is_image]
    images = [t for t in query.terms if t.is_image]
    parts: list[tuple[float, np.ndarray]] = []
    if texts:
        parts += zip([t.weight for t in texts], engine.encode_texts([t.value for t in texts]))
    for term in images:
        path = Path(term.value)
        try:
            image = decode(path.read_bytes(), path, engine.image_size)
        except (Unreadable, OSError) as exc:
            raise PhotoplugError(f"query image {path}: {exc}") from None
        parts.append((term.weight, engine.encode_images([image])[0]))
    vector = sum(w * v for w, v in parts)
    norm = float(np.linalg.norm(vector))
    if norm < 1e-6:
        raise PhotoplugError("the query's parts cancel out; change a weight or a term")
    return (vector / norm).astype(np.float32)


def top_k(matrix: np.ndarray, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and scores of the k best rows, best first (argpartition, then a small sort)."""
    scores = matrix @ vector
    k = min(k, len(scores))
    if k == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
    best = np.argpartition(-scores, k - 1)[:k]
    best = best[np.argsort(-scores[best], kind="stable")]
    return best, scores[best]


def search(query: Query, store: IndexStore, engine: Engine, locations: list[str], top: int,
           only: Mapping[str, Collection[str]] | None = None) -> list[SearchResult]:
    """Exact cosine search over the embeddings ``engine``'s model made for ``locations``
    (limited to ``only``'s stable ids where it names a location)."""
    ident = engine.identity
    model_id = store.find_model_id(ident.name, ident.pretrained, ident.weights_hash)
    location_ids = [i for i in (store.location_id(uri) for uri in locations) if i is not None]
    if model_id is None or not location_ids:
        return []
    matrix, rows = store.matrix(location_ids, model_id)
    if only:
        allowed = {(uri, str(sid)) for uri, ids in only.items() for sid in ids}
        keep = [i for i, row in enumerate(rows) if row[2] not in only or (row[2], row[1])
                in allowed]
        matrix, rows = matrix[keep], [rows[i] for i in keep]
    best, scores = top_k(matrix, query_vector(query, engine), top)
    return [SearchResult(path=Path(rows[i][0]), score=float(s), id=rows[i][1],
                         location=rows[i][2], host_ref=rows[i][3])
            for i, s in zip(best, scores)]
