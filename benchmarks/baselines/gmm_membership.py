"""The previous membership method (until photoplug 0.1's issue #11), kept only as a
baseline for the benchmarks: a two-component Gaussian mixture fitted to each album's (or
tag's) scores over the library, cut 18 % of the way down from the upper mode.

Not used by photoplug itself; see plugin/membership.py for the method in use.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

EncodeTexts = Callable[[list[str]], np.ndarray]

DROP = 0.18  # where the cut sits between the upper mode (0) and the lower (1)
MIN_SEPARATION = 2.0  # upper mode this many lower-mode deviations above: a real group
EM_STEPS = 40
SAMPLE = 8_000  # the mixture is fitted on at most this many photos (a fixed random draw)


@dataclass(frozen=True)
class Cut:
    """The calibrated cut of one column, with the mixture it came from."""

    threshold: float
    upper: float
    lower: float
    lower_spread: float

    @property
    def bimodal(self) -> bool:
        return self.upper - self.lower >= MIN_SEPARATION * self.lower_spread


def _initial_split(scores: np.ndarray) -> np.ndarray:
    """Per column, the split of the sorted scores into two groups that minimises the
    Kittler-Illingworth criterion (two tight groups), as a boolean 'upper' mask."""
    n, k = scores.shape
    order = np.sort(scores, axis=0)
    csum, csq = np.cumsum(order, axis=0), np.cumsum(order ** 2, axis=0)
    i = np.arange(1, n)[:, None]  # size of the lower group
    lo_mean = csum[:-1] / i
    lo_var = csq[:-1] / i - lo_mean ** 2
    hi_n = n - i
    hi_mean = (csum[-1] - csum[:-1]) / hi_n
    hi_var = (csq[-1] - csq[:-1]) / hi_n - hi_mean ** 2
    floor = 1e-6 + 1e-4 * np.var(scores, axis=0)
    p_lo, p_hi = i / n, hi_n / n
    crit = (p_lo * 0.5 * np.log(np.maximum(lo_var, floor)) + p_hi * 0.5
            * np.log(np.maximum(hi_var, floor)) - p_lo * np.log(p_lo) - p_hi * np.log(p_hi))
    crit[:1] = crit[-1:] = np.inf  # at least two photos in each group
    best = np.argmin(crit, axis=0)
    threshold = (order[best, np.arange(k)] + order[best + 1, np.arange(k)]) / 2
    return scores > threshold


def calibrate(scores: np.ndarray) -> list[Cut]:
    """The cut for each column of ``scores`` (photos x queries)."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 1:
        scores = scores[:, None]
    if len(scores) > SAMPLE:  # the shape of the distribution, not every photo, sets the cut
        pick = np.random.default_rng(0).choice(len(scores), SAMPLE, replace=False)
        scores = scores[np.sort(pick)]
    n = scores.shape[0]
    if n < 4:  # too few photos to tell two groups apart: only the very top
        return [Cut(float(c.max()), float(c.max()), float(c.min()), 0.0)
                for c in scores.T]
    resp = _initial_split(scores).astype(np.float32)
    scores = scores.astype(np.float32)  # EM in single precision: ample for a cut
    floor = 1e-8 + 1e-4 * np.var(scores, axis=0)
    for _ in range(EM_STEPS):
        before = resp
        w_hi = np.clip(resp.mean(axis=0), 1e-6, 1 - 1e-6)
        m_hi = (resp * scores).sum(0) / np.maximum(resp.sum(0), 1e-12)
        m_lo = ((1 - resp) * scores).sum(0) / np.maximum((1 - resp).sum(0), 1e-12)
        v_hi = np.maximum((resp * (scores - m_hi) ** 2).sum(0)
                          / np.maximum(resp.sum(0), 1e-12), floor)
        v_lo = np.maximum(((1 - resp) * (scores - m_lo) ** 2).sum(0)
                          / np.maximum((1 - resp).sum(0), 1e-12), floor)
        log_hi = np.log(w_hi) - 0.5 * np.log(v_hi) - (scores - m_hi) ** 2 / (2 * v_hi)
        log_lo = np.log(1 - w_hi) - 0.5 * np.log(v_lo) - (scores - m_lo) ** 2 / (2 * v_lo)
        resp = 1 / (1 + np.exp(np.clip(log_lo - log_hi, -60, 60)))
        if np.abs(resp - before).max() < 1e-4:
            break
    cuts = []
    for j in range(scores.shape[1]):
        upper, lower = max(m_hi[j], m_lo[j]), min(m_hi[j], m_lo[j])
        spread = float(np.sqrt(v_lo[j] if m_hi[j] >= m_lo[j] else v_hi[j]))
        threshold = upper - DROP * (upper - lower)
        cut = Cut(float(threshold), float(upper), float(lower), spread)
        if not cut.bimodal:  # no group stands out: nothing is a member
            cut = Cut(float("inf"), cut.upper, cut.lower, spread)
        cuts.append(cut)
    return cuts


def best_of(matrix: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Per photo, its best cosine against any of ``queries`` (rows)."""
    if len(queries) == 0:
        return np.full(len(matrix), -np.inf, dtype=np.float32)
    return (matrix @ queries.T).max(axis=1)


def album_scores(albums: Sequence, matrix: np.ndarray, encode_texts: EncodeTexts) -> np.ndarray:
    """Photos x albums: best positive score, or -inf where a negative prompt matches at
    least as well."""
    columns = []
    for album in albums:
        positives = encode_texts(list(album.prompts))
        score = best_of(matrix, positives)
        if album.negative:
            score = np.where(best_of(matrix, encode_texts(list(album.negative))) >= score,
                             -np.inf, score)
        columns.append(score)
    return np.stack(columns, axis=1) if columns else np.zeros((len(matrix), 0))


def _cuts(scores: np.ndarray, fixed: Sequence[float | None]) -> list[float]:
    finite = np.where(np.isfinite(scores), scores, np.nan)
    fill = np.nanmin(finite, axis=0) if len(scores) else np.zeros(scores.shape[1])
    cleaned = np.where(np.isfinite(scores), scores, np.nan_to_num(fill)[None, :])
    auto: list[Cut] = calibrate(cleaned) if len(scores) else []
    return [f if f is not None else (auto[j].threshold if auto else np.inf)
            for j, f in enumerate(fixed)]


def albums_members(albums: Sequence, matrix: np.ndarray, encode_texts: EncodeTexts
                   ) -> list[list[int]]:
    """Each album's members (rows, best first)."""
    scores = album_scores(albums, matrix, encode_texts)
    cuts = _cuts(scores, [a.threshold for a in albums])
    out = []
    for j in range(len(albums)):
        rows = np.flatnonzero(scores[:, j] >= cuts[j])
        out.append(rows[np.argsort(-scores[rows, j], kind="stable")].tolist())
    return out


def concept_scores(concepts: Sequence, matrix: np.ndarray,
                   encode_texts: EncodeTexts) -> np.ndarray:
    """Photos x concepts: all prompts encoded in one (cached) call, all scored in one
    matrix product (an ensemble is one averaged query, own prompts are kept apart and
    reduced by maximum)."""
    vectors = encode_texts([p for c in concepts for p in c.prompts])
    queries, owner, start = [], [], 0
    for j, concept in enumerate(concepts):
        block = vectors[start:start + len(concept.prompts)]
        start += len(concept.prompts)
        if concept.ensemble:
            mean = block.mean(axis=0)
            block = (mean / max(float(np.linalg.norm(mean)), 1e-12))[None, :]
        queries.append(block)
        owner += [j] * len(block)
    scores = matrix @ np.concatenate(queries).T.astype(matrix.dtype)
    starts = np.flatnonzero(np.r_[True, np.diff(owner) != 0])
    return np.maximum.reduceat(scores, starts, axis=1)


def auto_tags(concepts: Sequence, matrix: np.ndarray, encode_texts: EncodeTexts,
              max_per_photo: int) -> list[list[str]]:
    """Per photo (row), the keywords that clear their calibrated cut, strongest first,
    at most ``max_per_photo``."""
    if len(matrix) == 0:
        return []
    scores = concept_scores(concepts, matrix, encode_texts)
    cuts = calibrate(scores)
    thresholds = np.array([c.threshold for c in cuts])
    span = np.array([max(c.upper - c.lower, 1e-6) for c in cuts])
    strength = (scores - thresholds) / span  # comparable across concepts
    k = min(max_per_photo, strength.shape[1])
    top = np.argpartition(-strength, k - 1, axis=1)[:, :k]
    top_strength = np.take_along_axis(strength, top, axis=1)
    order = np.argsort(-top_strength, axis=1, kind="stable")
    top, top_strength = (np.take_along_axis(a, order, axis=1) for a in (top, top_strength))
    keywords = [c.keyword for c in concepts]
    return [[keywords[j] for j, v in zip(cols, vals) if v >= 0]
            for cols, vals in zip(top.tolist(), top_strength.tolist())]
