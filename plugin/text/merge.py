"""Words as well as looks: the photos whose text matches a query join CLIP's ranked list.

A photo whose text holds every word of the query (a quoted part as a phrase) ranks above
those that only look like it: first those holding the query's words as one phrase, then by
how well they look like the query (their CLIP cosine, which stays their score); each such
result carries the line that matched. When
no photo's text matches, the list is CLIP's, untouched. Only the query's first term is
matched, and only when it is words (not a photo) with a positive weight.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Collection, Mapping

import numpy as np

from photoplug.hooks import Query, SearchResult
from photoplug.index import text_store
from photoplug.index.store import IndexStore
from photoplug.text.query import matched_line, text_query

MODES = ("auto", "only", "off")  # words and looks, words alone, looks alone
CANDIDATES = 500  # text matches ranked at most (a word on many photos: any 500 of them)


def with_text(store: IndexStore, engine: Any, query: Query, uris: list[str],
              results: list[SearchResult], top: int,
              only: Mapping[str, Collection[str]] | None, mode: str = "auto"
              ) -> list[SearchResult]:
    """``results`` (CLIP's, best first) with the text matches of ``query`` merged in;
    ``mode`` "only": the text matches alone, "off": ``results`` as they are."""
    if mode == "off":
        return results
    matched = text_matches(store, engine, query, uris, top, only)
    if mode == "only" or not matched:
        return matched if mode == "only" else results
    seen = {(r.location, r.id) for r in matched}
    return (matched + [r for r in results if (r.location, r.id) not in seen])[:max(top, 1)]


def text_matches(store: IndexStore, engine: Any, query: Query, uris: list[str], top: int,
                 only: Mapping[str, Collection[str]] | None) -> list[SearchResult]:
    """The best ``top`` photos (within ``uris`` and ``only``) whose text matches the
    query's first term: phrase matches first, then by CLIP cosine; each with its line."""
    term = query.terms[0]
    parsed = None if term.is_image or term.weight <= 0 else text_query(term.value)
    if parsed is None:
        return []
    ids = [i for i in map(store.location_id, uris) if i is not None]
    hits = text_store.search(store, parsed.match, parsed.phrase, ids, CANDIDATES)
    if only:
        allowed = {uri: {str(s) for s in sids} for uri, sids in only.items()}
        keys = store.rows([pid for pid, _, _ in hits])
        hits = [h for h, key in zip(hits, keys) if key and (
            key[2] not in allowed or key[1] in allowed[key[2]])]
    if not hits:
        return []
    cosines = _cosines(store, engine, query, ids, [pid for pid, _, _ in hits])
    ranked = text_store.details(store, sorted(
        hits, key=lambda h: (not h[2], -cosines.get(h[0], (-2.0,))[0], h[0]))[:top])
    out = []
    for hit in ranked:
        score, at = cosines.get(hit.photo_id, (0.0, None))
        line, spans = matched_line(hit.text, parsed.words)
        out.append(SearchResult(path=Path(hit.path), score=score, id=hit.stable_id,
                                location=hit.location, host_ref=hit.host_ref, time=at,
                                text=line, text_spans=spans))
    return out


def _cosines(store: IndexStore, engine: Any, query: Query, location_ids: list[int],
             photo_ids: list[int]) -> dict[int, tuple[float, float | None]]:
    """Each photo's cosine to the query (its best row: a video's best frame)."""
    from photoplug.search import query_vector
    ident = engine.identity
    model_id = store.find_model_id(ident.name, ident.pretrained, ident.weights_hash)
    if model_id is None or not location_ids:
        return {}
    matrix, ids, times = store.search_matrix(location_ids, model_id)
    rows = np.flatnonzero(np.isin(ids, np.asarray(photo_ids, np.int64)))
    if not len(rows):
        return {}
    sims = np.asarray(matrix[rows]) @ query_vector(query, engine)
    out: dict[int, tuple[float, float | None]] = {}
    for row, sim in zip(rows, sims):
        pid = int(ids[row])
        at = None if times is None or np.isnan(times[row]) else round(float(times[row]), 3)
        if pid not in out or sim > out[pid][0]:
            out[pid] = (float(sim), at)
    return out
