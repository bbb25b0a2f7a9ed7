"""The copy of a shot to keep, by what can be measured, with the reason.

The rules run in order, each keeping the copies near the best by its measure: the RAW
file (every other copy was made from it); the most pixels (within 2 %: a resized or
cropped copy has fewer); the fewest clipped values (within 1 % of them: a brightened
copy loses its highlights); the sharpest (within 15 %: a blurred frame of a burst); the
least compressed, in bytes per pixel (within 5 %: a JPEG re-saved at a lower quality);
then the oldest file, then the first path. The reason names each rule that set copies
aside.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from photoplug.duplicates.looks import Look
from photoplug.media.formats import RAW_SUFFIXES


@dataclass(frozen=True)
class Copy:
    """One file of a group, with what it is judged by."""

    path: Path
    look: Look
    size: int  # bytes
    mtime: float

    @property
    def raw(self) -> bool:
        return self.path.suffix.lower() in RAW_SUFFIXES

    @property
    def bytes_per_pixel(self) -> float:
        return self.size / max(self.look.pixels, 1)


def _size(c: Copy) -> str:
    return f"{c.look.width}x{c.look.height}"


# (measure, higher is better, kept within: a share of the best, or an amount, reason)
Rule = tuple[Callable[[Copy], float], bool, Callable[[float], float], Callable[[Copy], str]]
RULES: tuple[Rule, ...] = (
    (lambda c: float(c.raw), True, lambda best: best, lambda c: "the RAW file"),
    (lambda c: c.look.pixels, True, lambda best: best * 0.98,
     lambda c: f"the most pixels ({_size(c)})"),
    (lambda c: c.look.clipped, False, lambda best: best + 0.01,
     lambda c: f"the fewest clipped highlights and shadows ({c.look.clipped:.1%})"),
    (lambda c: c.look.sharpness, True, lambda best: best * 0.85, lambda c: "the sharpest"),
    (lambda c: c.bytes_per_pixel, True, lambda best: best * 0.95,
     lambda c: f"the least compressed ({c.bytes_per_pixel:.2f} bytes a pixel)"),
    (lambda c: c.mtime, False, lambda best: best, lambda c: "the oldest file"),
)


def best_copy(copies: Sequence[Copy]) -> tuple[int, str]:
    """The index in ``copies`` of the one to keep, and why."""
    left = sorted(range(len(copies)), key=lambda i: str(copies[i].path))
    reasons = []
    for measure, higher, within, reason in RULES:
        values = {i: measure(copies[i]) for i in left}
        best = max(values.values()) if higher else min(values.values())
        bound = within(best)
        kept = [i for i in left if (values[i] >= bound if higher else values[i] <= bound)]
        if len(kept) < len(left):
            reasons.append(reason(copies[kept[0]]))
        left = kept
        if len(left) == 1:
            break
    return left[0], "; ".join(reasons) or "the first path (the copies measure the same)"
