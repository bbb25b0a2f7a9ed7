"""A search's results as a person reads them: judged good or weak, bursts folded into
their best photo, and the good matches ordered by score or by capture date."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from photoplug.albums.vocabulary import Concept
from photoplug.hooks import Query, SearchResult
from photoplug.media.dates import capture_date
from photoplug.media.fingerprint import distance, perceptual_hash
from photoplug.results.judge import judge

# A burst: photos this alike to the model (cosine of their vectors) whose pHashes differ
# in at most BURST_BITS of 64 bits are one shot. Measured on toy-clip drawings: re-saves at
# JPEG quality 60, half-size copies and +0.5 EV differ in 0-4 bits and 5 % crops in 0-26,
# while another drawing of the same class differs in at least 14 (and its cosine reaches
# 0.998: the model alone cannot tell them apart).
BURST_COSINE = 0.95
BURST_BITS = 10

def present(app: Any, query: Query, results: list[SearchResult], concepts: Sequence[Concept],
            sort: str = "score", fold: bool = True) -> list[SearchResult]:
    """Judge, fold and order ``results`` (best first, as searched); the good matches
    come first, then the weak ones by score."""
    if not results:
        return results
    engine = app.search_engine(sorted({r.location for r in results}))
    vectors = app.store.embeddings_of([(r.location, r.id) for r in results],
                                      app.model_id(engine))
    judge(results, vectors, query, app.encoders(engine), concepts)
    for r in results:
        if r.text is not None:  # its words match the query's (photoplug.text.merge)
            r.match = "good"
    if fold:
        results = fold_bursts(results, vectors)
    good = [r for r in results if r.match == "good"]
    weak = [r for r in results if r.match != "good"]
    if sort != "score":
        good = by_date(good, newest_first=sort == "date")
    return good + weak


def fold_bursts(results: list[SearchResult], vectors: np.ndarray) -> list[SearchResult]:
    """Each result of one shot with a better one goes into that one's ``similar``."""
    hashes: dict[int, int | None] = {}

    def look(row: int) -> int | None:
        if row not in hashes:
            hashes[row] = perceptual_hash(results[row].path, results[row].time)
        return hashes[row]

    kept: list[int] = []
    out: list[SearchResult] = []
    for row, result in enumerate(results):
        alike = [k for k in kept
                 if vectors[row].any() and vectors[k] @ vectors[row] >= BURST_COSINE]
        host = next((k for k in alike if look(k) is not None and look(row) is not None
                     and distance(look(k), look(row)) <= BURST_BITS), None)
        if host is None:
            kept.append(row)
            out.append(result)
        else:
            out[kept.index(host)].similar.append(result)
    return out

def by_date(results: list[SearchResult], newest_first: bool) -> list[SearchResult]:
    """Ordered by capture date (EXIF, else the file's time); undated ones last."""
    dated, undated = [], []
    for r in results:
        when, _ = capture_date(r.path)
        r.taken = when.isoformat(timespec="seconds") if when else None
        (dated if when else undated).append(r)
    dated.sort(key=lambda r: r.taken or "", reverse=newest_first)
    return dated + undated
