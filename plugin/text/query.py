"""From a search query to an SQLite FTS5 query over the text in photos, and back from a
photo's text to the line that matched, with the matched words marked.

FTS5's ``unicode61`` tokenizer (``remove_diacritics 2``: café = cafe, Hà Nội = ha noi)
keeps a run of CJK characters as one token, so the index spaces every CJK character apart
(``cjk_spaced``) and a Chinese word is searched as a phrase of single characters: 港口
is found inside 欢迎光临郁金香港口. Every term is double-quoted, so AND, OR, NOT, NEAR, ``*``
or ``:`` typed by a user are words, never syntax; the terms are ANDed; a quoted part of the
query must match as a phrase.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_CJK = (r"\u2e80-\u2fdf\u3040-\u30ff\u3100-\u312f\u3190-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
        r"\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002fa1f")
_CJK_CHAR = re.compile(f"([{_CJK}])")
_WORD = re.compile(r"[^\W_]+")  # what unicode61 keeps: letters and digits
_QUOTED = re.compile(r'"([^"]*)"')


def cjk_spaced(text: str) -> str:
    """``text`` with a space on both sides of every CJK character: one token each."""
    return _CJK_CHAR.sub(r" \1 ", text)


def fold(text: str) -> str:
    """Case and accents folded as the index does, for marking matches."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _tokens(text: str) -> list[str]:
    return _WORD.findall(cjk_spaced(text))


@dataclass(frozen=True)
class TextQuery:
    """A query's FTS5 form: ``match`` (every term, phrases kept), ``phrase`` (the whole
    query as one phrase: such photos rank first; None for one word) and the ``words``
    for marking."""

    match: str
    phrase: str | None
    words: tuple[str, ...]


def _phrase(tokens: list[str]) -> str:
    return '"' + " ".join(tokens) + '"'


def text_query(query: str) -> TextQuery | None:
    """The FTS5 query for ``query``, or None when it holds no word to look for."""
    parts: list[str] = []
    words: list[str] = []
    rest = _QUOTED.sub(" ", query)
    for quoted in _QUOTED.findall(query):
        tokens = _tokens(quoted)
        if tokens:
            parts.append(_phrase(tokens))
            words += tokens
    for word in _WORD.findall(rest):
        tokens = _tokens(word)  # a CJK run: a phrase of its characters
        parts.append(_phrase(tokens))
        words += tokens
    if not parts:
        return None
    match = " ".join(parts)
    phrase = _phrase(words) if len(words) > 1 and _phrase(words) != match else None
    return TextQuery(match, phrase, tuple(fold(w) for w in words))


def matched_line(text: str, words: tuple[str, ...]) -> tuple[str, tuple[tuple[int, int], ...]]:
    """The line of ``text`` that holds most of ``words`` (the first such), and the spans
    of the words matched in it."""
    best: tuple[int, str, list[tuple[int, int]]] = (-1, "", [])
    wanted = set(words)
    for line in text.splitlines() or [text]:
        spans, found = _spans(line, wanted)
        if len(found) > best[0]:
            best = (len(found), line, spans)
    return best[1], tuple(best[2])


def _spans(line: str, wanted: set[str]) -> tuple[list[tuple[int, int]], set[str]]:
    """Where in ``line`` the tokens in ``wanted`` are (CJK: each character alone)."""
    spans: list[tuple[int, int]] = []
    found: set[str] = set()
    for match in _WORD.finditer(line):
        word = match.group()
        for start, end in _cjk_pieces(word):
            token = fold(word[start:end])
            if token in wanted:
                spans.append((match.start() + start, match.start() + end))
                found.add(token)
    return _merged(spans), found


def _cjk_pieces(word: str) -> list[tuple[int, int]]:
    """A word mixing CJK and other letters, split as ``cjk_spaced`` splits it."""
    return [(m.start(), m.end()) for m in re.finditer(f"[{_CJK}]|[^{_CJK}]+", word)]


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Adjacent spans (the characters of a CJK word) as one."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(end, out[-1][1]))
        else:
            out.append((start, end))
    return out
