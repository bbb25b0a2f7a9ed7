"""Calibrated membership: a per-query cut taken from the library's own score distribution.

Raw CLIP cosines are not comparable across queries (the same photo scores 0.72 for one
query and 0.30 for another), so no single threshold works. For one album (or one tag),
the scores of every photo in the library form two groups: the few that show it and
the many that don't. We fit a two-component Gaussian mixture to those scores (EM,
started from the split that best separates two tight groups) and put the cut a fixed
fraction ``DROP`` of the way down from the upper mode toward the lower one: near the
members, tolerant of a member a little below them, far from the rest. Where the
scores have no second mode (the library has no such photos) nothing is a member.

Everything here is vectorised over columns: one column per album or tag.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
