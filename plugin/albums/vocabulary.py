"""Vocabularies: what photos may show, one concept per line, each with the prompts that find it.

    dog                                   # prompted with CLIP's templates, averaged
    receipt: a photo of a receipt | a shopping receipt    # its own prompts, best wins

The built-in vocabulary (``vocabulary.txt``, ~340 everyday concepts) is what ``tag``
assigns and what albums compete against; ``--vocabulary FILE`` adds to it (later files
win on a repeated keyword) or, with ``--only-mine``, replaces it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from photoplug.errors import PhotoplugError

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
    except (OSError, UnicodeDecodeError) as exc:
        raise PhotoplugError(f"vocabulary {path}: "
                             f"{getattr(exc, 'strerror', None) or exc}") from None
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


def vocabulary(files: Sequence[Path], only_mine: bool) -> list[Concept]:
    """The built-in vocabulary (unless ``only_mine``) extended by ``files``; a keyword
    defined again later replaces the earlier definition."""
    if only_mine and not files:
        raise PhotoplugError("--only-mine needs at least one --vocabulary FILE")
    sources = ([] if only_mine else [BUILTIN_VOCABULARY]) + list(files)
    merged = {c.keyword: c for f in sources for c in load_vocabulary(f)}
    return list(merged.values())
