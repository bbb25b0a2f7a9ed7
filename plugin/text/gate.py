"""Which photos to read: CLIP's own view that a photo shows text, measured against reading
everything.

A photo's score is how much closer its vector lies to a few text-ish prompts (signs,
receipts, documents, screens) than to prompts for everything else. What that score is
worth depends on the model and the library, so the gate measures itself: the first
``SAMPLE`` photos of a run (in hash order: a random sample) are read whatever their score,
and the threshold is then set just under the lowest score of a sample photo in which the
reader found words. From then on only photos scoring above it are read. When the sample
holds too few photos with text to say (``MIN_WITH_TEXT``), or the threshold would still
read nearly everything (``USELESS_ABOVE``), every photo is read.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

TEXT_PROMPTS = (
    "a photo of a sign with text", "a street sign", "a shop sign with words",
    "a receipt", "a printed document", "a page of text", "a screenshot",
    "a photo of a computer screen", "a phone screen with text", "a menu",
    "a poster with writing", "a label with printed words", "a whiteboard with writing",
    "a handwritten note", "a book cover", "a ticket", "a card with a Wi-Fi password",
    "a license plate", "a sticker with words", "a banner with letters",
)
OTHER_PROMPTS = (
    "a photo of a landscape", "a portrait of a person", "a photo of people",
    "a photo of an animal", "a photo of a pet", "a photo of food", "a photo of a building",
    "a photo of a beach", "a photo of a city street", "a photo of a forest",
    "a photo of mountains", "a photo of the sky", "a photo of a car", "a photo of flowers",
    "a photo of a room", "a close-up photo of an object", "a photo of a sunset",
    "a photo of water", "a photo of a garden", "an abstract pattern",
)
SAMPLE = 200  # photos read whatever the gate says, to measure it
MIN_WITH_TEXT = 8  # photos with text in the sample needed to trust a threshold
MARGIN = 0.01  # below the lowest score that had text
USELESS_ABOVE = 0.9  # a gate that would read this share of the sample reads everything
_REAL_WORD = re.compile(r"[^\W\d_]{3,}|[\u3400-\u9fff]{2,}")


def has_words(text: str) -> bool:
    """Text that counts as text for the gate: a word of 3 letters, or 2 CJK characters
    (not the odd digit or glyph read from stripes)."""
    return bool(_REAL_WORD.search(text))


def scores(vectors: np.ndarray, prompts: np.ndarray, n_text: int) -> np.ndarray:
    """Each photo's closest text prompt minus its closest other prompt (cosines)."""
    if not len(vectors):
        return np.zeros(0, np.float32)
    sims = vectors @ prompts.T
    return sims[:, :n_text].max(axis=1) - sims[:, n_text:].max(axis=1)


@dataclass
class Gate:
    """The threshold measured on the sample, and what it measured."""

    threshold: float | None = None  # None: read every photo
    sample: int = 0
    with_text: int = 0
    would_read: float = 1.0  # share of the sample above the threshold
    note: str = "reads every photo until its sample is complete"

    def wants(self, score: float) -> bool:
        return self.threshold is None or score >= self.threshold


def measure(sample_scores: Sequence[float], sample_has_text: Sequence[bool]) -> Gate:
    """The gate that keeps every sample photo with text (recall 1 on the sample)."""
    s = np.asarray(sample_scores, np.float32)
    found = np.asarray(sample_has_text, bool)
    gate = Gate(sample=len(s), with_text=int(found.sum()))
    if len(s) < SAMPLE:
        return gate
    if gate.with_text < MIN_WITH_TEXT:
        gate.note = (f"reads every photo: only {gate.with_text} of {len(s)} sample photos "
                     f"had text, too few to measure a threshold")
        return gate
    threshold = float(s[found].min()) - MARGIN
    gate.would_read = float((s >= threshold).mean())
    if gate.would_read >= USELESS_ABOVE:
        gate.note = (f"reads every photo: keeping all {gate.with_text} sample photos with "
                     f"text would read {gate.would_read:.0%} of them anyway")
        return gate
    gate.threshold = threshold
    gate.note = (f"reads photos CLIP sees text in: measured on {len(s)} photos read in full,"
                 f" it keeps all {gate.with_text} with text and reads {gate.would_read:.0%}")
    return gate


def prompt_vectors(encode: Callable[[list[str]], np.ndarray]) -> tuple[np.ndarray, int]:
    """The prompts' normalised vectors (text ones first) and how many are text ones."""
    vectors = np.asarray(encode(list(TEXT_PROMPTS + OTHER_PROMPTS)), np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return vectors, len(TEXT_PROMPTS)
