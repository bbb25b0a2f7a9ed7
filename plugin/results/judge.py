"""Good matches and weak ones, decided per photo by the rule that fills albums.

A query is judged as an album made of it: its words are the album's prompts (a term
subtracted with ``-`` a negative prompt), a photo given as the query an example. Each
result then competes as an album member would: the query must describe the photo within
a quarter nat of the photo's best description from the vocabulary (and, for a sigmoid
model, reach its own probability of 0.5); a photo given as the query also makes its near
duplicates good. The margin says by how much, in nats on the model's logit scale.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from photoplug.albums.definitions import AlbumDef
from photoplug.albums.membership import albums_members
from photoplug.albums.vocabulary import Concept
from photoplug.hooks import Query, SearchResult


def query_album(query: Query) -> AlbumDef:
    """The query as an album: words are prompts, subtracted words negatives, photos
    examples."""
    words = [t.value for t in query.terms if not t.is_image and t.weight > 0]
    negative = [t.value for t in query.terms if not t.is_image and t.weight < 0]
    examples = [Path(t.value) for t in query.terms if t.is_image and t.weight > 0]
    return AlbumDef("the query", tuple(words), tuple(negative), tuple(examples))


def judge(results: Sequence[SearchResult], vectors: np.ndarray, query: Query,
          encoders: Any, concepts: Sequence[Concept]) -> None:
    """Mark each result ``good`` or ``weak``, with its margin (and probability)."""
    if not results:
        return
    decided = albums_members([query_album(query)], vectors, encoders, concepts)[0]
    good = set(decided.members)
    for row, result in enumerate(results):
        result.match = "good" if row in good else "weak"
        if decided.margins is not None:
            result.margin = float(decided.margins[row]) * encoders.logit_scale
        if decided.probabilities is not None:
            result.probability = float(decided.probabilities[row])
