"""Zero-shot competition: does a photo show X, compared with everything else it may show?

Every query that may describe a photo is one column of a pool: each album's prompts,
each vocabulary concept (its own prompts, or its templates averaged into one query) and
a few generic prompts ("a photo.") that describe any photo a little. A photo shows X
when X's best column is within ``TOLERANCE_NATS`` of the best column among all the
others, on the model's own logit scale: in the softmax CLIP was trained with, X is at
least e^-0.25 (78 %) as likely as the photo's best description. The same prompt text is
one column whoever lists it, so a prompt an album shares with a concept ties exactly
with itself and never competes against itself.

The tolerance was chosen on toy-clip (360 drawings, 5 libraries, 28 albums): 0.1 and
0.25 nats gave no false member, 0.5 gave 24, 1 gave 48.

A sigmoid-trained model (SigLIP, SigLIP2) also says how likely a text fits a photo on
its own, sigmoid(scale x cos + bias), without any rival; for such a model a description
must also reach ``MIN_PROBABILITY``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Collection

import numpy as np

GENERIC_PROMPTS = ("a photo.", "a picture.", "an image.", "a photo of something.",
                   "a photo of an object.")
TOLERANCE_NATS = 0.25
MIN_PROBABILITY = 0.5  # a sigmoid model's own probability a description must reach


def probability(cosine: np.ndarray | float, logit_scale: float, logit_bias: float
                ) -> np.ndarray:
    """A sigmoid model's probability that a text fits a photo, from their cosine."""
    z = np.asarray(cosine, np.float64) * logit_scale + logit_bias
    return 1.0 / (1.0 + np.exp(-z))
_TOP = 8  # best columns kept per photo; a longer exclusion list falls back to a full pass


@dataclass(frozen=True)
class Best:
    """Per photo, the best score among some columns and which column it was."""

    score: np.ndarray  # (photos,) float32; -inf where no column was allowed
    column: np.ndarray  # (photos,) int; -1 where no column was allowed


class Pool:
    """The query columns: identity by prompt text(s), a readable label, a unit vector."""

    def __init__(self) -> None:
        self.labels: list[str] = []
        self.generic: list[int] = []
        self._keys: dict[tuple[str, ...], int] = {}
        self._vectors: list[np.ndarray] = []

    def __len__(self) -> int:
        return len(self.labels)

    def add(self, key: tuple[str, ...], label: str, vector: np.ndarray) -> int:
        """The column for ``key`` (one prompt, or the prompts of an averaged ensemble)."""
        if key not in self._keys:
            self._keys[key] = len(self.labels)
            self.labels.append(label)
            self._vectors.append(np.asarray(vector, np.float32))
        return self._keys[key]

    def add_generic(self, vectors: np.ndarray) -> None:
        self.generic = [self.add((p,), p, v) for p, v in zip(GENERIC_PROMPTS, vectors)]

    def vectors(self) -> np.ndarray:
        return np.stack(self._vectors)

    def score(self, matrix: np.ndarray, logit_scale: float) -> Scores:
        values = matrix @ self.vectors().T.astype(matrix.dtype, copy=False)
        return Scores(values, TOLERANCE_NATS / logit_scale)


class Scores:
    """Photos x columns cosines, with each photo's best few columns ranked once."""

    def __init__(self, values: np.ndarray, tolerance: float) -> None:
        self.values = values
        self.tolerance = tolerance  # TOLERANCE_NATS in cosine units for this model
        n, k = values.shape
        t = min(_TOP, k)
        top = np.argpartition(-values, t - 1, axis=1)[:, :t] if n and t else \
            np.zeros((n, 0), np.int64)
        top_values = np.take_along_axis(values, top, axis=1)
        order = np.argsort(-top_values, axis=1, kind="stable")
        self._top = np.take_along_axis(top, order, axis=1)
        self._top_values = np.take_along_axis(top_values, order, axis=1)

    def best_of(self, columns: Collection[int]) -> Best:
        """The best of ``columns`` for every photo."""
        cols = np.asarray(sorted(columns), np.int64)
        n = len(self.values)
        if not len(cols):
            return Best(np.full(n, -np.inf, np.float32), np.full(n, -1))
        sub = self.values[:, cols]
        pick = sub.argmax(axis=1)
        return Best(sub[np.arange(n), pick], cols[pick])

    def best_excluding(self, excluded: Collection[int]) -> Best:
        """The best column for every photo among all but ``excluded``."""
        n, k = self.values.shape
        out = set(excluded)
        if not out:
            return Best(self._top_values[:, 0], self._top[:, 0]) if k else \
                self.best_of(())
        allowed = ~np.isin(self._top, list(out))
        found = allowed.any(axis=1)
        first = allowed.argmax(axis=1)
        rows = np.arange(n)
        score = np.where(found, self._top_values[rows, first], -np.inf).astype(np.float32)
        column = np.where(found, self._top[rows, first], -1)
        deep = np.flatnonzero(~found)
        if len(deep):  # every one of the photo's top columns excluded: look at all
            rest = self.best_of(set(range(k)) - out)
            score[deep], column[deep] = rest.score[deep], rest.column[deep]
        return Best(score, column)
