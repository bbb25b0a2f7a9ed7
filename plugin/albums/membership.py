"""Who belongs where: smart albums and auto-tags decided per photo, against the alternatives.

A photo joins an album (or gets a keyword) when the album's prompts describe it at least
about as well as anything else the vocabulary, the other albums and a few generic
prompts could say about it (``zero_shot``). So an album of something the library does
not hold stays empty: every photo has a better description than the album's.

Around that rule:

- An album prompt that merely names a vocabulary concept ("a dog", "sunsets") stands for
  that concept: the concept's prompts count as the album's, not as its rival.
- A prompt listed both as positive and as negative is negative (the photo is out).
  A negative prompt scoring at least as high as the best positive puts a photo out.
- An example image brings in its own best description (what the vocabulary says it
  shows) as album prompts.
- The user's corrections win: photos taken out stay out and put out their near
  duplicates (``NEAR_DUPLICATE``) whose nearest labelled photo they are; photos put in
  stay in and bring in their near duplicates whose nearest photo they are.
- ``threshold = 0.27`` in an album replaces the competition with a raw cosine cut.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from photoplug.albums.definitions import AlbumDef
from photoplug.media.decode import Unreadable, decode
from photoplug.media.formats import is_video
from photoplug.media.video import frames
from photoplug.errors import PhotoplugError
from photoplug.albums.vocabulary import Concept
from photoplug.albums.zero_shot import (GENERIC_PROMPTS, MIN_PROBABILITY, TOLERANCE_NATS,
                                        Pool, Scores, probability)

_NEIGHBOURS = 64  # per labelled photo: how many of its closest photos are looked at
NEAR_DUPLICATE = 0.9  # photos this alike (cosine) are the same moment: bursts, edits
_LEADS = ("a photo of ", "a picture of ", "an image of ", "photos of ", "a ", "an ", "the ")


@dataclass(frozen=True)
class Encoders:
    """What membership needs from a model: cached text vectors, image vectors, its scale."""

    texts: Callable[[list[str]], np.ndarray]
    images: Callable[[Sequence[Path]], np.ndarray]
    logit_scale: float
    logit_bias: float | None = None  # a sigmoid model's: its own probabilities count too

    def probability(self, cosine: np.ndarray) -> np.ndarray | None:
        """The model's own probability that a text fits (sigmoid models), else None."""
        if self.logit_bias is None:
            return None
        return probability(cosine, self.logit_scale, self.logit_bias)


def engine_encoders(engine: Any, texts: Callable[[list[str]], np.ndarray]) -> Encoders:
    """Encoders over an engine (photos decoded as indexing does, a video as the mean of
    its frames) and a text cache."""
    def images(paths: Sequence[Path]) -> np.ndarray:
        out = []
        for path in paths:
            try:
                shown = [image for _, image in frames(path, engine.image_size)] \
                    if is_video(path) else [decode(path.read_bytes(), path, engine.image_size)]
            except (Unreadable, OSError) as exc:
                raise PhotoplugError(f"example {path}: {exc}") from None
            mean = engine.encode_images(shown).mean(axis=0)
            out.append(mean / max(float(np.linalg.norm(mean)), 1e-12))
        return np.stack(out) if out else np.zeros((0, engine.identity.dim), np.float32)
    bias = getattr(engine, "logit_bias", None)
    return Encoders(texts, images, float(engine.logit_scale),
                    None if bias is None else float(bias))


@dataclass(frozen=True)
class Reason:
    """Why a photo is in an album or has a keyword (``--explain``)."""

    how: str  # "prompt", "threshold", "added by you", "like a photo you added", "example"
    score: float | None = None
    won_by: str | None = None  # the prompt (or example) that described it best
    rival: str | None = None  # the best description that was not the album's
    rival_score: float | None = None
    near: int | None = None  # the row of the photo it is most like, for the "like" ones
    probability: float | None = None  # a sigmoid model's own p(the description fits)

    def as_json(self, logit_scale: float) -> dict[str, Any]:
        out: dict[str, Any] = {"how": self.how}
        if self.score is not None:
            out["score"] = round(self.score, 6)
        if self.won_by is not None:
            out["won_by"] = self.won_by
        if self.rival is not None and self.rival_score is not None and self.score is not None:
            out["rival"] = self.rival
            out["rival_score"] = round(self.rival_score, 6)
            out["margin_nats"] = round((self.score - self.rival_score) * logit_scale, 3)
        if self.probability is not None:
            out["probability"] = round(self.probability, 4)
        return out

    def text(self, logit_scale: float) -> str:
        if self.score is None:
            return self.how
        line = f"{self.score:.3f} {self.won_by!r}"
        if self.rival is not None and self.rival_score is not None:
            margin = (self.score - self.rival_score) * logit_scale
            line += f", best rival {self.rival!r} {self.rival_score:.3f} ({margin:+.2f} nats)"
        if self.probability is not None:
            line += f", p {self.probability:.2f}"
        return line if self.how in ("prompt", "threshold") else f"{self.how}: {line}"


@dataclass(frozen=True)
class AlbumCorrections:
    """What the user did to one album since photoplug last wrote it (rows of the matrix)."""

    taken_out: frozenset[int] = frozenset()
    put_in: frozenset[int] = frozenset()


@dataclass
class AlbumResult:
    album: AlbumDef
    members: list[int]  # rows of the library matrix, best first
    rule: str  # the cut, in words
    reasons: dict[int, Reason] = field(default_factory=dict)
    kept_out: dict[int, Reason] = field(default_factory=dict)  # row -> why it stays out
    margins: np.ndarray | None = None  # per row: best prompt - best rival, in cosine
    probabilities: np.ndarray | None = None  # per row, a sigmoid model's p(best prompt)


def _bare(text: str) -> str:
    """A prompt without its framing: "A photo of a dog." -> "dog"."""
    bare = text.lower().strip().rstrip(".!").strip()
    changed = True
    while changed:
        changed = False
        for lead in _LEADS:
            if bare.startswith(lead):
                bare, changed = bare[len(lead):].strip(), True
    return bare


def _same_word(a: str, b: str) -> bool:
    """Equal up to an English plural (dog/dogs, beach/beaches, baby/babies)."""
    if a == b:
        return True
    short, long = sorted((a, b), key=len)
    return long in (short + "s", short + "es") or (short.endswith("y") and
                                                   long == short[:-1] + "ies")


def _names(album: AlbumDef, keyword: str) -> bool:
    """Whether the album is, by name or by one of its prompts, just this concept."""
    word = _bare(keyword)
    return any(_same_word(_bare(text), word) for text in (album.name, *album.prompts))


class _Setup:
    """The pool of descriptions shared by every album of one sync."""

    def __init__(self, albums: Sequence[AlbumDef], concepts: Sequence[Concept],
                 matrix: np.ndarray, encoders: Encoders) -> None:
        texts = [p for c in concepts for p in c.prompts] + list(GENERIC_PROMPTS)
        texts += [p for a in albums for p in (*a.prompts, *a.negative)]
        unique = list(dict.fromkeys(texts))
        vectors = dict(zip(unique, encoders.texts(unique)))
        self.vectors = vectors
        self.pool = Pool()
        self.concept_columns = [_concept_columns(self.pool, c, vectors) for c in concepts]
        self.pool.add_generic(np.stack([vectors[p] for p in GENERIC_PROMPTS]))
        self.prompt_columns = [[self.pool.add((p,), p, vectors[p]) for p in
                                _positive_prompts(album)] for album in albums]
        self.scores = self.pool.score(matrix, encoders.logit_scale)
        self.concepts = concepts
        self.logit_scale = encoders.logit_scale
        self.encoders = encoders

    def described(self, example: np.ndarray) -> list[int]:
        """The columns that describe an example image best (generic prompts aside)."""
        values = self.pool.vectors() @ example
        values[self.pool.generic] = -np.inf
        return np.flatnonzero(values >= values.max() - self.scores.tolerance).tolist()

    def rule(self, album: AlbumDef, own: int) -> str:
        if album.threshold is not None:
            return f"fixed threshold: cosine >= {album.threshold}"
        sigmoid = "" if self.encoders.logit_bias is None else \
            f", and the model's own probability at least {MIN_PROBABILITY}"
        return (f"its best prompt within {TOLERANCE_NATS} nats of the best of "
                f"{len(self.pool) - own} other descriptions ({len(self.concepts)} vocabulary "
                f"concepts, other albums, {len(GENERIC_PROMPTS)} generic prompts){sigmoid}; "
                f"logit scale {self.logit_scale:.1f}, so {self.scores.tolerance:.4f} cosine")


def _concept_columns(pool: Pool, concept: Concept, vectors: Mapping[str, np.ndarray]
                     ) -> list[int]:
    if concept.ensemble:
        mean = np.mean([vectors[p] for p in concept.prompts], axis=0)
        mean /= max(float(np.linalg.norm(mean)), 1e-12)
        return [pool.add(concept.prompts, f"{concept.keyword} ({len(concept.prompts)} "
                                          f"prompts averaged)", mean)]
    return [pool.add((p,), p, vectors[p]) for p in concept.prompts]


def _positive_prompts(album: AlbumDef) -> list[str]:
    """The album's prompts; one also listed as negative is negative."""
    return [p for p in album.prompts if p not in set(album.negative)]


def albums_members(albums: Sequence[AlbumDef], matrix: np.ndarray, encoders: Encoders,
                   concepts: Sequence[Concept],
                   corrections: Mapping[str, AlbumCorrections] | None = None
                   ) -> list[AlbumResult]:
    """Every album's members among the rows of ``matrix`` (normalised photo vectors)."""
    setup = _Setup(albums, concepts, matrix, encoders)
    results = []
    for j, album in enumerate(albums):
        examples = encoders.images(album.examples) if album.examples else \
            np.zeros((0, matrix.shape[1]), np.float32)
        own = set(setup.prompt_columns[j])
        for concept, columns in zip(concepts, setup.concept_columns):
            if _names(album, concept.keyword):
                own.update(columns)
        for example in examples:
            own.update(setup.described(example))
        result = _text_members(album, own, setup, matrix)
        fix = (corrections or {}).get(album.name, AlbumCorrections())
        if fix.taken_out or fix.put_in or len(examples):
            _apply_corrections(result, fix, matrix, examples, album.examples)
        results.append(result)
    return results


def _text_members(album: AlbumDef, own: set[int], setup: _Setup, matrix: np.ndarray
                  ) -> AlbumResult:
    """Members by prompts (and example descriptions) alone."""
    rule = setup.rule(album, len(own))
    if not own or not len(matrix):
        return AlbumResult(album, [], rule if own else "no prompts left: every prompt is "
                                                         "also a negative prompt")
    labels = setup.pool.labels
    best = setup.scores.best_of(own)
    rival = setup.scores.best_excluding(own)
    if album.threshold is not None:
        keep = best.score >= album.threshold
    else:
        keep = best.score >= rival.score - setup.scores.tolerance
    likely = setup.encoders.probability(best.score)
    if likely is not None and album.threshold is None:
        keep &= likely >= MIN_PROBABILITY
    if album.negative:
        negative = matrix @ np.stack([setup.vectors[p] for p in album.negative]).T
        keep &= best.score > negative.max(axis=1)
    rows = np.flatnonzero(keep)
    rows = rows[np.argsort(-best.score[rows], kind="stable")]
    how = "threshold" if album.threshold is not None else "prompt"
    reasons = {int(r): Reason(how, float(best.score[r]), labels[best.column[r]],
                              labels[rival.column[r]] if rival.column[r] >= 0 else None,
                              float(rival.score[r]) if rival.column[r] >= 0 else None,
                              probability=None if likely is None else float(likely[r]))
               for r in rows}
    return AlbumResult(album, rows.tolist(), rule, reasons, margins=best.score - rival.score,
                       probabilities=likely)


def _apply_corrections(result: AlbumResult, fix: AlbumCorrections, matrix: np.ndarray,
                       examples: np.ndarray, example_paths: Sequence[Path]) -> None:
    """The user's edits win: taken out stays out, put in stays in; each also speaks for
    the photos most like it (nearest labelled neighbour)."""
    members = set(result.members) - fix.taken_out
    for row in fix.put_in:
        result.reasons[row] = Reason("added by you")
    members |= fix.put_in
    for row in fix.taken_out:
        result.kept_out[row] = Reason("taken out by you")
    vetoed = _nearest_to_taken_out(matrix, members - fix.put_in, sorted(members), examples,
                                   sorted(fix.taken_out))
    for row, removed in vetoed.items():
        members.discard(row)
        result.kept_out[row] = Reason("most like a photo you took out", near=removed)
    labelled = fix.put_in | fix.taken_out | members
    for row, source in _nearest_to_put_in(matrix, sorted(fix.put_in), examples,
                                          labelled).items():
        members.add(row)
        result.reasons[row] = Reason("most like a photo you put in", near=source) \
            if source >= 0 else Reason(f"most like example {example_paths[-source - 1].name}")
    scores = {r: (result.reasons[r].score if r in result.reasons and
                  result.reasons[r].score is not None else -np.inf) for r in members}
    result.members = sorted(members, key=lambda r: (-scores[r], r))
    result.reasons = {r: v for r, v in result.reasons.items() if r in members}


def _nearest_to_taken_out(matrix: np.ndarray, candidates: set[int], keep: list[int],
                          examples: np.ndarray, taken_out: list[int]) -> dict[int, int]:
    """Members whose nearest labelled photo (members, examples, photos put in or taken
    out) is one the user took out, and a near duplicate of it: row -> that photo's row.
    Ties keep the member."""
    if not taken_out or not candidates:
        return {}
    rows = np.asarray(sorted(candidates))
    to_out = matrix[rows] @ matrix[taken_out].T
    near_out = to_out.max(axis=1)
    look = rows[np.argsort(-near_out, kind="stable")[:_NEIGHBOURS * len(taken_out)]]
    keep_rows = np.asarray(keep)
    to_keep = matrix[look] @ matrix[keep_rows].T
    to_keep[look[:, None] == keep_rows[None, :]] = -np.inf  # not itself
    best_keep = to_keep.max(axis=1) if len(keep_rows) else np.full(len(look), -np.inf)
    if len(examples):
        best_keep = np.maximum(best_keep, (matrix[look] @ examples.T).max(axis=1))
    out_of = dict(zip(rows.tolist(), to_out.argmax(axis=1).tolist()))
    near = dict(zip(rows.tolist(), near_out.tolist()))
    return {int(r): taken_out[out_of[int(r)]] for r, k in zip(look, best_keep)
            if near[int(r)] > k and near[int(r)] >= NEAR_DUPLICATE}


def _nearest_to_put_in(matrix: np.ndarray, put_in: list[int], examples: np.ndarray,
                       labelled: set[int]) -> dict[int, int]:
    """Photos not yet labelled whose nearest neighbour (in the library and the examples)
    is a photo the user put in (-> its row) or an example (-> -1 - its index), and a near
    duplicate of it."""
    sources = [matrix[put_in]] if put_in else []
    if len(examples):
        sources.append(examples)
    if not sources:
        return {}
    positives = np.concatenate(sources)
    ids = put_in + [-1 - i for i in range(len(examples))]
    near = matrix @ positives.T
    if labelled:
        near[sorted(labelled)] = -np.inf
    candidates = np.unique(np.argsort(-near, axis=0, kind="stable")[:_NEIGHBOURS].ravel())
    candidates = [int(c) for c in candidates if np.isfinite(near[c].max())]
    out = {}
    for row in candidates:
        to_library = matrix @ matrix[row]
        to_library[row] = -np.inf
        nearest_photo = int(to_library.argmax())
        best_source = int(near[row].argmax())
        if near[row, best_source] > to_library[nearest_photo]:
            if near[row, best_source] >= NEAR_DUPLICATE:
                out[row] = ids[best_source]
        elif nearest_photo in put_in and to_library[nearest_photo] >= NEAR_DUPLICATE:
            out[row] = nearest_photo
    return out


# -- auto-tags --------------------------------------------------------------------------

@dataclass
class TagResult:
    keywords: list[list[str]]  # per row, strongest first
    rule: str
    reasons: list[dict[str, Reason]] | None = None  # per row, with ``explain``


def auto_tags(concepts: Sequence[Concept], matrix: np.ndarray, encoders: Encoders,
              max_per_photo: int, taken_off: Mapping[str, set[int]] | None = None,
              explain: bool = False) -> TagResult:
    """Per photo, the concepts that describe it within the tolerance of its best
    description (generic prompts compete too), strongest first, at most
    ``max_per_photo``; never a keyword the user took off that photo."""
    texts = list(dict.fromkeys([p for c in concepts for p in c.prompts] +
                               list(GENERIC_PROMPTS)))
    vectors = dict(zip(texts, encoders.texts(texts)))
    pool = Pool()
    columns = [_concept_columns(pool, c, vectors) for c in concepts]
    pool.add_generic(np.stack([vectors[p] for p in GENERIC_PROMPTS]))
    rule = (f"each keyword within {TOLERANCE_NATS} nats of the photo's best description "
            f"among {len(concepts)} concepts and {len(GENERIC_PROMPTS)} generic prompts"
            + ("" if encoders.logit_bias is None else
               f", and the model's own probability at least {MIN_PROBABILITY}")
            + f" (logit scale {encoders.logit_scale:.1f})")
    if not len(matrix):
        return TagResult([], rule, [] if explain else None)
    scores = pool.score(matrix, encoders.logit_scale)
    best = scores.values.max(axis=1)
    flat = np.concatenate(columns)
    starts = np.cumsum([0] + [len(c) for c in columns[:-1]])
    concept_scores = np.maximum.reduceat(scores.values[:, flat], starts, axis=1)
    strength = concept_scores - best[:, None]  # <= 0; 0 for the best description
    strength[strength < -scores.tolerance] = -np.inf
    likely = encoders.probability(concept_scores)
    if likely is not None:
        strength[likely < MIN_PROBABILITY] = -np.inf
    for j, concept in enumerate(concepts):
        rows = (taken_off or {}).get(concept.keyword)
        if rows:
            strength[sorted(rows), j] = -np.inf
    k = min(max_per_photo, len(concepts))
    top = np.argpartition(-strength, k - 1, axis=1)[:, :k]
    top_strength = np.take_along_axis(strength, top, axis=1)
    order = np.argsort(-top_strength, axis=1, kind="stable")
    top = np.take_along_axis(top, order, axis=1)
    top_strength = np.take_along_axis(top_strength, order, axis=1)
    chosen = [[int(j) for j, v in zip(cols, vals) if np.isfinite(v)]
              for cols, vals in zip(top.tolist(), top_strength.tolist())]
    keywords = [[concepts[j].keyword for j in row] for row in chosen]
    reasons = None
    if explain:
        reasons = [_tag_reasons(scores, pool, concepts, columns, row, picks, encoders)
                   for row, picks in enumerate(chosen)]
    return TagResult(keywords, rule, reasons)


def _tag_reasons(scores: Scores, pool: Pool, concepts: Sequence[Concept],
                 columns: list[list[int]], row: int, picks: list[int], encoders: Encoders
                 ) -> dict[str, Reason]:
    out = {}
    values = scores.values[row]
    for j in picks:
        own = columns[j]
        won = own[int(np.argmax(values[own]))]
        others = np.delete(np.arange(len(values)), own)
        rival = int(others[np.argmax(values[others])]) if len(others) else -1
        likely = encoders.probability(values[won])
        out[concepts[j].keyword] = Reason(
            "prompt", float(values[won]), pool.labels[won],
            pool.labels[rival] if rival >= 0 else None,
            float(values[rival]) if rival >= 0 else None,
            probability=None if likely is None else float(likely))
    return out
