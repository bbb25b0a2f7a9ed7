"""Queries (rclip's grammar) and search over the index's embeddings: exact, or above
``APPROXIMATE_ABOVE`` rows through an approximate index (``ann.py``).

A query is text, or an image when it names an existing file (a video stands for the mean
of its frames); ``--add``/``+`` and ``--subtract``/``-`` combine more, and a ``2.5:``
prefix weights one. The combined vector is the weighted sum of the normalised term
embeddings, normalised again, so a score is a cosine similarity. A video is a row per
frame: it ranks by its best frame, whose time its result carries.
"""
from __future__ import annotations

import re
import weakref
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, Collection, Mapping, Sequence

import numpy as np

from photoplug.index.ann import APPROXIMATE_ABOVE
from photoplug.media.decode import Unreadable, decode
from photoplug.errors import PhotoplugError
from photoplug.hooks import Query, QueryTerm, SearchResult
from photoplug.index.store import IndexStore
from photoplug.media.formats import is_video
from photoplug.media.video import frames

if TYPE_CHECKING:
    from photoplug.model.engine import Engine

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


# the last words-only query's vector, and (weakly: it does not keep it alive) its engine
_LAST: list[tuple[weakref.ref[Any], Query, np.ndarray]] = []


def query_vector(query: Query, engine: Engine) -> np.ndarray:
    """The normalised combined embedding of all terms (the last query of words alone is
    remembered: the text-in-photos step asks for it again)."""
    if any(t.is_image for t in query.terms):
        return _query_vector(query, engine)
    if _LAST and _LAST[0][0]() is engine and _LAST[0][1] == query:
        return _LAST[0][2]
    vector = _query_vector(query, engine)
    with suppress(TypeError):  # an engine no weak reference can refer to is not remembered
        _LAST[:] = [(weakref.ref(engine), query, vector)]
    return vector


def _query_vector(query: Query, engine: Engine) -> np.ndarray:
    texts = [t for t in query.terms if not t.is_image]
    images = [t for t in query.terms if t.is_image]
    parts: list[tuple[float, np.ndarray]] = []
    if texts:
        parts += zip([t.weight for t in texts], engine.encode_texts([t.value for t in texts]))
    for term in images:
        path = Path(term.value)
        try:
            shown = [image for _, image in frames(path, engine.image_size)] if is_video(path) \
                else [decode(path.read_bytes(), path, engine.image_size)]
        except (Unreadable, OSError) as exc:
            raise PhotoplugError(f"query image {path}: {exc}") from None
        mean = engine.encode_images(shown).mean(axis=0)  # one image: its own vector
        parts.append((term.weight, mean / max(float(np.linalg.norm(mean)), 1e-12)))
    vector = sum(w * v for w, v in parts)
    norm = float(np.linalg.norm(vector))
    if norm < 1e-6:
        raise PhotoplugError("the query's parts cancel out; change a weight or a term")
    return (vector / norm).astype(np.float32)


def top_k(matrix: np.ndarray, vector: np.ndarray, k: int, ids: np.ndarray | None = None
          ) -> tuple[np.ndarray, np.ndarray]:
    """Rows and scores of the k best rows, best first (argpartition, then a small sort).
    With ``ids`` (the photo of each row, a photo's rows together), the best row of each
    of the k best photos."""
    scores = matrix @ vector
    if ids is None or not len(ids):
        best = _best(scores, k)
        return best, scores[best]
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:], len(ids)]
    photos = _best(np.maximum.reduceat(scores, starts), k)
    best = np.array([s + int(np.argmax(scores[s:e])) for s, e in
                     zip(starts[photos], ends[photos])], dtype=np.int64)
    return best, scores[best]


def _best(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores, highest first."""
    k = min(k, len(scores))
    if k == 0:
        return np.empty(0, dtype=np.int64)
    best = np.argpartition(-scores, k - 1)[:k]
    return best[np.argsort(-scores[best], kind="stable")]


def _approximate_top(index: Any, matrix: np.ndarray, vector: np.ndarray, k: int,
                     ids: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The approximate index's k best rows; with ``ids`` (there are videos), the best row
    of each of the k best photos, more rows asked for until k photos are among them."""
    want = k
    while True:
        rows, scores = index.search(matrix, vector, want)
        if ids is None:
            return rows, scores
        _, first = np.unique(ids[rows], return_index=True)
        first.sort()  # a photo's best row is its first: rows come best first
        if len(first) >= k or want >= len(ids):
            return rows[first[:k]], scores[first[:k]]
        want *= 4


def search(query: Query, store: IndexStore, engine: Engine, locations: list[str], top: int,
           only: Mapping[str, Collection[str]] | None = None) -> list[SearchResult]:
    """Cosine search over the embeddings ``engine``'s model made for ``locations`` (limited
    to ``only``'s stable ids where it names a location): exact, or approximate for a large
    unfiltered library. A video's result is its best frame's, with that frame's time."""
    ident = engine.identity
    model_id = store.find_model_id(ident.name, ident.pretrained, ident.weights_hash)
    location_ids = [i for i in (store.location_id(uri) for uri in locations) if i is not None]
    if model_id is None or not location_ids:
        return []
    matrix, ids, times = store.search_matrix(location_ids, model_id)
    if only:
        keys = store.keys(location_ids)
        allowed = {keys[(uri, str(sid))] for uri, sids in only.items() for sid in sids
                   if (uri, str(sid)) in keys}
        unfiltered = {pid for (uri, _), pid in keys.items() if uri not in only}
        keep = np.flatnonzero(np.isin(ids, np.fromiter(allowed | unfiltered, np.int64)))
        matrix, ids = matrix[keep], ids[keep]
        times = times[keep] if times is not None else None
    vector = query_vector(query, engine)
    grouped = ids if times is not None else None  # a video's frames: one result
    if not only and len(ids) >= APPROXIMATE_ABOVE:
        best, scores = _approximate_top(store.approximate(location_ids, model_id), matrix,
                                        vector, top, grouped)
    else:
        best, scores = top_k(matrix, vector, top, grouped)
    rows = store.rows(ids[best])
    seconds = [None if times is None or np.isnan(times[b]) else round(float(times[b]), 3)
               for b in best]
    return [SearchResult(path=Path(row[0]), score=float(s), id=row[1], location=row[2],
                         host_ref=row[3], time=t)
            for row, s, t in zip(rows, scores, seconds) if row]
