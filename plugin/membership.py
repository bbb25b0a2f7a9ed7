"""Who belongs where: album membership and auto-tags as vector math over the index.

A query set (an album's prompts and example photos, or a tag's prompts) scores each
photo by its best match (maximum, never the average: "circles of any colour" must not
be washed out), a photo matching a negative prompt better than every positive one is
out, and the cut comes from ``calibrate`` unless the album fixes a raw cosine.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from photoplug.albums import AlbumDef
from photoplug.calibrate import Cut, calibrate
from photoplug.decode import Unreadable, decode
from photoplug.errors import PhotoplugError

EncodeTexts = Callable[[list[str]], np.ndarray]


@dataclass
class AlbumResult:
    album: AlbumDef
    members: list[int]  # row indices into the library matrix, best first
    threshold: float


def best_of(matrix: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Per photo, its best cosine against any of ``queries`` (rows)."""
    if len(queries) == 0:
        return np.full(len(matrix), -np.inf, dtype=np.float32)
    return (matrix @ queries.T).max(axis=1)


def _example_vectors(album: AlbumDef, engine: object) -> np.ndarray:
    images = []
    for path in album.examples:
        try:
            images.append(decode(path.read_bytes(), path, engine.image_size))  # type: ignore
        except (Unreadable, OSError) as exc:
            raise PhotoplugError(f"album {album.name!r}: example {path}: {exc}") from None
    return engine.encode_images(images)  # type: ignore[attr-defined]


def album_scores(albums: Sequence[AlbumDef], matrix: np.ndarray, encode_texts: EncodeTexts,
                 engine: object) -> np.ndarray:
    """Photos x albums: best positive score, or -inf where a negative prompt matches at
    least as well."""
    columns = []
    for album in albums:
        parts = [encode_texts(list(album.prompts))] if album.prompts else []
        if album.examples:
            parts.append(_example_vectors(album, engine))
        positives = np.concatenate(parts)
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


def albums_members(albums: Sequence[AlbumDef], matrix: np.ndarray,
                   encode_texts: EncodeTexts, engine: object) -> list[AlbumResult]:
    scores = album_scores(albums, matrix, encode_texts, engine)
    cuts = _cuts(scores, [a.threshold for a in albums])
    out = []
    for j, album in enumerate(albums):
        rows = np.flatnonzero(scores[:, j] >= cuts[j])
        rows = rows[np.argsort(-scores[rows, j], kind="stable")]
        out.append(AlbumResult(album, rows.tolist(), float(cuts[j])))
    return out


# -- auto-tags --------------------------------------------------------------------------

TEMPLATES = ("a photo of a {}.", "a close-up photo of a {}.", "a photo of the {}.",
             "a good photo of a {}.", "a blurry photo of a {}.")
BUILTIN_VOCABULARY = Path(__file__).with_name("vocabulary.txt")


@dataclass(frozen=True)
class Concept:
    """A keyword and the prompts that find it (its own, or the built-in templates)."""

    keyword: str
    prompts: tuple[str, ...]
    ensemble: bool  # True: average the templated prompts (CLIP's prompt ensemble)


def load_vocabulary(path: Path) -> list[Concept]:
    """One concept per line: ``keyword`` (prompted with the templates) or
    ``keyword: prompt | prompt`` (its own prompts, best match wins); ``#`` comments."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise PhotoplugError(f"vocabulary {path}: {exc.strerror or exc}") from None
    concepts, seen = [], set()
    for n, raw in enumerate(lines, 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        keyword, sep, prompts = line.partition(":")
        keyword = keyword.strip()
        if not keyword:
            raise PhotoplugError(f"{path}, line {n}: a concept needs a keyword")
        if keyword in seen:
            continue
        seen.add(keyword)
        if sep:
            own = tuple(p.strip() for p in prompts.split("|") if p.strip())
            if not own:
                raise PhotoplugError(f"{path}, line {n}: no prompts after '{keyword}:'")
            concepts.append(Concept(keyword, own, ensemble=False))
        else:
            concepts.append(Concept(keyword, tuple(t.format(keyword) for t in TEMPLATES),
                                    ensemble=True))
    if not concepts:
        raise PhotoplugError(f"{path}: the vocabulary is empty")
    return concepts


def concept_scores(concepts: Sequence[Concept], matrix: np.ndarray,
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


def auto_tags(concepts: Sequence[Concept], matrix: np.ndarray, encode_texts: EncodeTexts,
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
