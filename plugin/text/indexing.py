"""``photoplug index --text``: after the photos are encoded, read the text in those the
reader has not read yet (a photo read before costs nothing; a changed photo is new
content), the CLIP gate choosing which (``gate.py``), a few photos per transaction.

A photo the reader fails on (a crash, a time-out, an unreadable file) is recorded as
failed with the reason and is not tried again by the same reader; its vector is never
touched. Videos are not read.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from photoplug.hooks.protocols import TextReader
from photoplug.index import text_store
from photoplug.index.store import IndexStore
from photoplug.media.formats import is_video
from photoplug.text.gate import SAMPLE, Gate, has_words, measure, prompt_vectors, scores

BATCH = 8  # photos per transaction: a crash loses at most these


@dataclass
class TextReport:
    """What one run of the text reader did."""

    engine: str
    read: int = 0
    with_text: int = 0
    gated: int = 0  # not read: the gate saw no text
    failed: list[tuple[str, str]] = field(default_factory=list)
    gate: Gate | None = None
    seconds: float = 0.0

    def summary(self) -> str:
        gate = f"; gate {self.gate.note}" if self.gate and self.read + self.gated else ""
        return (f"text: {self.read} photos read, {self.with_text} with text, {self.gated} "
                f"judged without text and not read, {len(self.failed)} failed, in "
                f"{self.seconds:.1f} s{gate}")

    def as_json(self) -> dict[str, Any]:
        out = {k: v for k, v in vars(self).items() if k not in ("failed", "gate")}
        out["failed"] = [{"path": p, "reason": r} for p, r in self.failed]
        out["gate"] = vars(self.gate) if self.gate else None
        return out


def read_texts(store: IndexStore, location_id: int, model_id: int, dim: int,
               reader: TextReader, encode: Callable[[list[str]], np.ndarray],
               progress: Callable[[int, int], None] | None = None) -> TextReport:
    """Read the text in the location's photos that ``reader`` has not read yet."""
    started = time.monotonic()
    report = TextReport(reader.identity)
    todo = [(h, p) for h, p in text_store.pending(store, location_id, reader.identity)
            if not is_video(Path(p))]
    if progress:
        progress(0, len(todo))
    if not todo:
        return report
    sampled = text_store.sample(store, reader.identity)
    photo_scores = _scores(store, model_id, dim, [h for h, _ in sampled + todo], encode)
    sample_scores = [photo_scores.get(h, np.inf) for h, _ in sampled]
    sample_text = [has_words(t) for _, t in sampled]
    report.gate = measure(sample_scores, sample_text)
    batch: list[tuple[str, str, Any, bool]] = []
    for n, (hash_, path) in enumerate(todo, 1):
        in_sample = len(sample_scores) < SAMPLE
        score = photo_scores.get(hash_, np.inf)
        if in_sample or report.gate.wants(score):
            found = reader.read(Path(path))
            batch.append((hash_, path, found, in_sample))
            if in_sample and found.failed is None:
                sample_scores.append(score)
                sample_text.append(has_words("\n".join(found.lines)))
                if len(sample_scores) == SAMPLE:
                    report.gate = measure(sample_scores, sample_text)
        else:
            batch.append((hash_, path, None, False))
        if len(batch) >= BATCH or n == len(todo):
            _write(store, reader.identity, batch, report)
            batch = []
            if progress:
                progress(n, len(todo))
    report.seconds = time.monotonic() - started
    return report


def _scores(store: IndexStore, model_id: int, dim: int, hashes: list[str],
            encode: Callable[[list[str]], np.ndarray]) -> dict[str, float]:
    """The gate's score of each photo with a vector of this model."""
    found = text_store.vectors(store, model_id, hashes, dim)
    if not found:
        return {}
    prompts, n_text = prompt_vectors(encode)
    keys = list(found)
    values = scores(np.stack([found[k] for k in keys]), prompts, n_text)
    return dict(zip(keys, map(float, values)))


def _write(store: IndexStore, engine: str, batch: list[tuple[str, str, Any, bool]],
           report: TextReport) -> None:
    with store.transaction() as db:
        for hash_, path, found, in_sample in batch:
            if found is None:
                text_store.put(db, hash_, engine, "gated")
                report.gated += 1
            elif found.failed is not None:
                text_store.put(db, hash_, engine, "failed", reason=found.failed)
                report.failed.append((path, found.failed))
            else:
                state = "text" if found.lines else "none"
                text_store.put(db, hash_, engine, state, found.lines, sample=in_sample)
                report.read += 1
                report.with_text += bool(found.lines)
