"""Queries (rclip's grammar) and search over the index's embeddings: exact, or above
``APPROXIMATE_ABOVE`` photos through an approximate index (``ann.py``).

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

from photoplug.ann import APPROXIMATE_ABOVE
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
    """Cosine search over the embeddings ``engine``'s model made for ``locations`` (limited
    to ``only``'s stable ids where it names a location): exact, or approximate for a large
    unfiltered library."""
    ident = engine.identity
    model_id = store.find_model_id(ident.name, ident.pretrained, ident.weights_hash)
    location_ids = [i for i in (store.location_id(uri) for uri in locations) if i is not None]
    if model_id is None or not location_ids:
        return []
    matrix, ids = store.vectors(location_ids, model_id)
    if only:
        keys = store.keys(location_ids)
        allowed = {keys[(uri, str(sid))] for uri, sids in only.items() for sid in sids
                   if (uri, str(sid)) in keys}
        unfiltered = {pid for (uri, _), pid in keys.items() if uri not in only}
        keep = np.flatnonzero(np.isin(ids, np.fromiter(allowed | unfiltered, np.int64)))
        matrix, ids = matrix[keep], ids[keep]
    vector = query_vector(query, engine)
    if not only and len(ids) >= APPROXIMATE_ABOVE:
        best, scores = store.approximate(location_ids, model_id).search(matrix, vector, top)
    else:
        best, scores = top_k(matrix, vector, top)
    rows = store.rows(ids[best])
    return [SearchResult(path=Path(row[0]), score=float(s), id=row[1], location=row[2],
                         host_ref=row[3]) for row, s in zip(rows, scores) if row]
