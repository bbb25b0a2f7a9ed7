"""Vocabularies: what photos may show, one concept per line, each with the prompts that find it.

    dog                                   # prompted with CLIP's templates, averaged
    receipt: a photo of a receipt | a shopping receipt    # its own prompts, best wins
    dog = Hund: ein Foto von einem Hund | ein Hund         # concept "dog", keyword "Hund"

The built-in vocabulary (``vocabulary.txt``, ~340 everyday concepts; the same concepts in
German, Spanish, French, Chinese and Japanese in ``vocabulary.LANG.txt``) is what ``tag``
assigns and what albums compete against; ``--vocabulary FILE`` adds to it (later files
win on a repeated concept) or, with ``--only-mine``, replaces it. A line ``CONCEPT =
KEYWORD: prompts`` names the concept it translates, so a photo gets the same concept in
every language, written as the user reads it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from photoplug.errors import PhotoplugError

TEMPLATES = ("a photo of a {}.", "a close-up photo of a {}.", "a photo of the {}.",
             "a good photo of a {}.", "a blurry photo of a {}.")
BUILTIN_VOCABULARY = Path(__file__).with_name("vocabulary.txt")
LANGUAGES = ("en", "de", "es", "fr", "zh", "ja")  # the built-in vocabularies


def builtin_vocabulary(language: str) -> Path:
    """The built-in vocabulary file of ``language`` (an ISO 639-1 code)."""
    if language not in LANGUAGES:
        raise PhotoplugError(f"--language {language}: the built-in vocabularies are "
                             f"{', '.join(LANGUAGES)}")
    return BUILTIN_VOCABULARY if language == "en" else \
        BUILTIN_VOCABULARY.with_name(f"vocabulary.{language}.txt")


def system_language(env: Mapping[str, str] = os.environ) -> str:
    """The user's language from the locale (LC_ALL, LC_MESSAGES, LANG), when a built-in
    vocabulary speaks it; English otherwise."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name, "")
        if value:
            code = value.split(".")[0].split("_")[0].lower()
            return code if code in LANGUAGES else "en"
    return "en"


@dataclass(frozen=True)
class Concept:
    """A keyword and the prompts that find it (its own, or the built-in templates)."""

    keyword: str  # as written into the host, in the vocabulary's language
    prompts: tuple[str, ...]
    ensemble: bool  # True: average the templated prompts (CLIP's prompt ensemble)
    concept: str = ""  # the concept it names in every language (English); the keyword if ""

    @property
    def key(self) -> str:
        return self.concept or self.keyword


def load_vocabulary(path: Path) -> list[Concept]:
    """One concept per line: ``keyword`` (prompted with the templates),
    ``keyword: prompt | prompt`` (its own prompts, best match wins), or ``concept =
    keyword: prompt | prompt`` (a translation of ``concept``); ``#`` comments."""
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
        concept, named, local = keyword.partition("=")
        keyword, concept = (local.strip(), concept.strip()) if named else (keyword.strip(), "")
        if not keyword or (named and not concept):
            raise PhotoplugError(f"{path}, line {n}: a concept needs a keyword")
        if (concept or keyword) in seen:
            continue
        seen.add(concept or keyword)
        if sep:
            own = tuple(p.strip() for p in prompts.split("|") if p.strip())
            if not own:
                raise PhotoplugError(f"{path}, line {n}: no prompts after '{keyword}:'")
            concepts.append(Concept(keyword, own, ensemble=False, concept=concept))
        elif named:
            raise PhotoplugError(f"{path}, line {n}: a translated concept brings its own "
                                 f"prompts ('{concept} = {keyword}: prompt | prompt')")
        else:
            concepts.append(Concept(keyword, tuple(t.format(keyword) for t in TEMPLATES),
                                    ensemble=True))
    if not concepts:
        raise PhotoplugError(f"{path}: the vocabulary is empty")
    return concepts


def vocabulary(files: Sequence[Path], only_mine: bool, language: str = "en") -> list[Concept]:
    """The built-in vocabulary in ``language`` (unless ``only_mine``) extended by
    ``files``; a concept defined again later replaces the earlier definition."""
    if only_mine and not files:
        raise PhotoplugError("--only-mine needs at least one --vocabulary FILE")
    sources = ([] if only_mine else [builtin_vocabulary(language)]) + list(files)
    merged = {c.key: c for f in sources for c in load_vocabulary(f)}
    return list(merged.values())
