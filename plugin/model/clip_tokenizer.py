"""CLIP's byte-pair tokenizer without torch: the same token ids as open_clip's
``SimpleTokenizer`` (checked in the tests), read from the vocabulary file open_clip ships,
so a search can encode its query without importing torch or open_clip.
"""
from __future__ import annotations

import gzip
import html
import importlib.util
from functools import lru_cache, partial
from pathlib import Path

import numpy as np

START, END = "<start_of_text>", "<end_of_text>"
_MERGES = 49152 - 256 - 2  # merges CLIP's vocabulary uses


def open_clip_vocabulary() -> Path:
    """open_clip's ``bpe_simple_vocab_16e6.txt.gz``, found without importing open_clip."""
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("open_clip is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "bpe_simple_vocab_16e6.txt.gz"


def _byte_alphabet() -> dict[int, str]:
    """Each byte as a printable character (GPT-2/CLIP's reversible byte mapping), in the
    order the vocabulary lists them: printable bytes first, then the rest."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    rest = [b for b in range(256) if b not in printable]
    return {**{b: chr(b) for b in printable}, **{b: chr(256 + n) for n, b in enumerate(rest)}}


def _merge_word(ranks: dict[tuple[str, str], int], word: str) -> tuple[str, ...]:
    """``word``'s byte-pair merges, lowest rank first."""
    if word in (START, END):
        return (word,)
    parts = [*word[:-1], word[-1] + "</w>"]
    while len(parts) > 1:
        pairs = {(a, b) for a, b in zip(parts, parts[1:])}
        best = min(pairs, key=lambda p: ranks.get(p, float("inf")))
        if best not in ranks:
            break
        merged, i = [], 0
        while i < len(parts):
            if i < len(parts) - 1 and (parts[i], parts[i + 1]) == best:
                merged.append(parts[i] + parts[i + 1])
                i += 2
            else:
                merged.append(parts[i])
                i += 1
        parts = merged
    return tuple(parts)


class ClipTokenizer:
    """Text to CLIP token ids: clean (ftfy, HTML entities, whitespace, lower case), split,
    byte-pair merge, wrap in start/end tokens, cut to the context length."""

    def __init__(self, vocabulary: Path, context_length: int = 77) -> None:
        import regex
        with gzip.open(vocabulary) as file:
            lines = file.read().decode("utf-8").split("\n")[1:_MERGES + 1]
        merges = [tuple(line.split()) for line in lines]
        self.bytes = _byte_alphabet()
        symbols = list(self.bytes.values())
        vocab = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges]
        vocab += [START, END]
        self.ids = {token: i for i, token in enumerate(vocab)}
        self.ranks = {pair: i for i, pair in enumerate(merges)}
        self.start, self.end = self.ids[START], self.ids[END]
        self.context_length = context_length
        self.pattern = regex.compile(
            rf"{START}|{END}|'s|'t|'re|'ve|'m|'ll|'d|[\p{{L}}]+|[\p{{N}}]|[^\s\p{{L}}\p{{N}}]+",
            regex.IGNORECASE)
        self._merge = lru_cache(maxsize=65536)(partial(_merge_word, self.ranks))

    @staticmethod
    def clean(text: str) -> str:
        import ftfy
        text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
        return " ".join(text.split()).strip().lower()

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` without start/end tokens."""
        out = []
        for piece in self.pattern.findall(self.clean(text)):
            word = "".join(self.bytes[b] for b in piece.encode("utf-8"))
            out += [self.ids[p] for p in self._merge(word)]
        return out

    def __call__(self, texts: list[str]) -> np.ndarray:
        """An (N, context_length) int64 array, zero-padded, as open_clip's tokenizer gives."""
        out = np.zeros((len(texts), self.context_length), dtype=np.int64)
        for row, text in enumerate(texts):
            tokens = [self.start, *self.encode(text), self.end]
            if len(tokens) > self.context_length:
                tokens = tokens[:self.context_length]
                tokens[-1] = self.end
            out[row, :len(tokens)] = tokens
        return out
