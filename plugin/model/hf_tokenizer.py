"""open_clip's ``HFTokenizer`` without torch or transformers: the same token ids, from a
model folder's ``tokenizer.json`` (+ ``tokenizer_config.json``) through the ``tokenizers``
library alone.

open_clip cleans each text (``clean``: ``whitespace``, ``lower`` or ``canonicalize``:
ftfy, HTML entities twice, then whitespace / lower case / punctuation), then calls the
transformers tokenizer with ``max_length=context_length, padding='max_length',
truncation=True``. transformers sets the ``tokenizers`` object to truncate (right side,
``longest_first``, leaving room for the special tokens its post-processor adds) and to
pad with the pad token (right side); this module sets the same. Optional open_clip
modes are reproduced too: ``strip_sep_token`` (the separator id becomes 0) and
``tokenizer_mode='clips'`` (bos + text + eos, padded, class token last).

A cached copy of a tokenizer gets a compact form (``save_compact``), from which a query
loads only the pieces it can use: a 256,000-piece vocabulary costs a cold search a few
milliseconds instead of a quarter to over a second (``compact_tokenizer``).
"""
from __future__ import annotations

import html
import json
import string
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from photoplug.model.compact_tokenizer import (CHECK_TEXTS, FOLDER as COMPACT, CompactVocabulary,
                                               Unsupported, replace_atomically, write)

CLEAN_MODES = ("whitespace", "lower", "canonicalize")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def basic_clean(text: str) -> str:
    """ftfy's repairs, HTML entities (twice), outer whitespace: open_clip's basic_clean."""
    import ftfy
    return html.unescape(html.unescape(ftfy.fix_text(text))).strip()


def whitespace_clean(text: str) -> str:
    return " ".join(text.split()).strip()


def canonicalize_text(text: str) -> str:
    """big_vision's canonicalisation, as open_clip has it: underscores to spaces, ASCII
    punctuation removed, lower case, whitespace collapsed."""
    text = text.replace("_", " ").translate(_PUNCTUATION).lower()
    return " ".join(text.split()).strip()


def clean_fn(mode: str) -> Callable[[str], str]:
    """open_clip's ``get_clean_fn``: the text cleaning ``mode`` names."""
    if mode == "canonicalize":
        return lambda text: canonicalize_text(basic_clean(text))
    if mode == "lower":
        return lambda text: whitespace_clean(basic_clean(text)).lower()
    if mode == "whitespace":
        return lambda text: whitespace_clean(basic_clean(text))
    raise ValueError(f"unknown clean mode {mode!r} (known: {', '.join(CLEAN_MODES)})")


def _token(value: Any) -> str | None:
    """A special token as tokenizer_config.json writes it (a string or an AddedToken dict)."""
    if isinstance(value, dict):
        return value.get("content")
    return value if isinstance(value, str) else None


class HFTokenizer:
    """Texts to an (N, context_length) int64 array of token ids, as open_clip's
    ``HFTokenizer`` gives them. With a compact form (``compact``: the folder's own where
    ``save_compact`` wrote one), each call builds a tokenizer of the pieces its texts can
    use instead of loading the whole vocabulary (``compact_tokenizer``)."""

    def __init__(self, folder: str | Path, context_length: int, clean: str = "whitespace",
                 strip_sep_token: bool = False, tokenizer_mode: str | None = None,
                 compact: CompactVocabulary | bool = True) -> None:
        folder = Path(folder)
        self.context_length = int(context_length)
        self.clean = clean_fn(clean)
        self.strip_sep_token = strip_sep_token
        self.mode = tokenizer_mode or ""
        if self.mode not in ("", "clips"):
            raise ValueError(f"open_clip tokenizer_mode {tokenizer_mode!r} is not reproduced")
        if compact is True:
            compact = CompactVocabulary.load(folder / COMPACT) or False
        self.compact = compact or None
        self.full: Any = None
        if self.compact is None:
            from tokenizers import Tokenizer
            self.full = Tokenizer.from_file(str(folder / "tokenizer.json"))
        config_file = folder / "tokenizer_config.json"
        self.config: dict[str, Any] = json.loads(config_file.read_text()) \
            if config_file.exists() else {}
        self.language: str | None = None
        self.special = {name: self.token_id(_token(self.config.get(f"{name}_token")))
                        for name in ("pad", "bos", "eos", "sep", "cls", "unk")}
        if self.mode != "clips" and (_token(self.config.get("pad_token")) is None
                                     or self.special["pad"] is None):
            raise ValueError(f"{folder}: the tokenizer has no pad token to pad with")
        if self.full is not None:
            self._configure(self.full)

    def _configure(self, tokenizer: Any) -> None:
        """Set ``tokenizer`` up as transformers (and open_clip's modes) would: special
        tokens added as the config says, truncation and padding to the context length;
        ids of special tokens as ``tokenizer`` numbers them."""
        from tokenizers.processors import TemplateProcessing
        config = self.config
        # transformers rewrites the post-processor when the config says add_bos/eos_token
        if "add_bos_token" in config or "add_eos_token" in config:
            bos, eos = _token(config.get("bos_token")), _token(config.get("eos_token"))
            add_bos = bool(config.get("add_bos_token")) and bos is not None
            add_eos = bool(config.get("add_eos_token")) and eos is not None
            single = f"{bos + ':0 ' if add_bos else ''}$A:0{' ' + eos + ':0' if add_eos else ''}"
            pair = (f"{single}{' ' + bos + ':1' if add_bos else ''} $B:1"
                    f"{' ' + eos + ':1' if add_eos else ''}")
            specials = ([(bos, tokenizer.token_to_id(bos))] if add_bos else []) + \
                ([(eos, tokenizer.token_to_id(eos))] if add_eos else [])
            tokenizer.post_processor = TemplateProcessing(
                single=single, pair=pair, special_tokens=specials)
        if self.language is not None:
            eos = self.special["eos"]
            eos_token = self.id_to_token(eos) if eos is not None else None
            code = self.language
            tokenizer.post_processor = TemplateProcessing(
                single=[code, "$A", eos_token], pair=[code, "$A", "$B", eos_token],
                special_tokens=[(eos_token, tokenizer.token_to_id(eos_token)),
                                (code, tokenizer.token_to_id(code))])
        if self.mode == "clips":
            tokenizer.no_truncation()
            tokenizer.no_padding()
            return
        tokenizer.enable_truncation(
            self.context_length, stride=0, strategy="longest_first",
            direction=config.get("truncation_side", "right"))
        pad_token = _token(config.get("pad_token"))
        tokenizer.enable_padding(
            direction=config.get("padding_side", "right"),
            pad_id=tokenizer.token_to_id(pad_token), pad_type_id=0, pad_token=pad_token,
            length=self.context_length)

    def set_language(self, code: str) -> None:
        """NLLB's source language (open_clip's ``set_language``, transformers'
        ``set_src_lang_special_tokens``, non-legacy): ``code`` text ``</s>``."""
        if self.token_id(code) is None or self.special["eos"] is None:
            raise ValueError(f"the tokenizer has no language token {code!r} or no eos token")
        self.language = code
        if self.full is not None:
            self._configure(self.full)

    def token_id(self, token: str | None) -> int | None:
        """The id of ``token`` in the whole vocabulary (None: none, or not in it)."""
        if token is None:
            return None
        return self.full.token_to_id(token) if self.full is not None else \
            self.compact.token_to_id(token)  # type: ignore[union-attr]

    def id_to_token(self, index: int) -> str | None:
        return self.full.id_to_token(index) if self.full is not None else \
            self.compact.id_to_token(index)  # type: ignore[union-attr]

    def _tokenizer(self, cleaned: list[str]) -> tuple[Any, np.ndarray | None]:
        """The tokenizer for these cleaned texts, and the map of its ids to the whole
        vocabulary's (None: it is the whole one)."""
        if self.full is not None:
            return self.full, None
        tokenizer, to_real = self.compact.tokenizer_for(cleaned)  # type: ignore[union-attr]
        self._configure(tokenizer)
        return tokenizer, to_real

    @classmethod
    def from_model_folder(cls, folder: str | Path, context_length: int | None = None
                          ) -> HFTokenizer:
        """The tokenizer open_clip's ``get_tokenizer('local-dir:FOLDER')`` builds, from the
        folder's ``open_clip_config.json`` (its ``text_cfg``)."""
        folder = Path(folder)
        text_cfg: Mapping[str, Any] = json.loads(
            (folder / "open_clip_config.json").read_text())["model_cfg"].get("text_cfg", {})
        if "hf_tokenizer_name" not in text_cfg:
            raise ValueError(f"{folder}: open_clip uses its own tokenizer for this model")
        kwargs = dict(text_cfg.get("tokenizer_kwargs") or {})
        unknown = set(kwargs) - {"clean", "strip_sep_token"}
        if unknown:  # open_clip passes these on to transformers' from_pretrained
            raise ValueError(f"tokenizer options {sorted(unknown)} are not reproduced")
        return cls(folder, context_length or int(text_cfg.get("context_length", 77)),
                   tokenizer_mode=text_cfg.get("tokenizer_mode"), **kwargs)

    def encode(self, text: str) -> list[int]:
        """One text's ids, cleaned, without padding or special tokens."""
        return [int(i) for i in self._ids([self.clean(text)], False)[0]]

    def _ids(self, cleaned: list[str], special: bool) -> list[np.ndarray]:
        """Each cleaned text's ids in the whole vocabulary (``special``: with the special
        tokens, truncated and padded as configured)."""
        tokenizer, to_real = self._tokenizer(cleaned)
        rows = [np.asarray(e.ids, np.int64)
                for e in tokenizer.encode_batch(cleaned, add_special_tokens=special)]
        return rows if to_real is None else [to_real[row] for row in rows]

    def __call__(self, texts: str | Sequence[str]) -> np.ndarray:
        if isinstance(texts, str):
            texts = [texts]
        cleaned = [self.clean(text) for text in texts]
        if self.mode == "clips":
            return self._clips(cleaned)
        out = np.asarray(self._ids(cleaned, True), dtype=np.int64).reshape(
            len(cleaned), self.context_length)
        if self.strip_sep_token and self.special["sep"] is not None:
            out[out == self.special["sep"]] = 0
        return out

    def _clips(self, texts: list[str]) -> np.ndarray:
        """open_clip's 'clips' mode: bos, text (cut to context - 3), eos, pad, class token."""
        n = self.context_length
        out = np.zeros((len(texts), n), dtype=np.int64)
        pad = self.special["pad"] or 0
        cls = self.special["cls"] if self.special["cls"] is not None else 101
        for row, ids in enumerate(self._ids(texts, False)):
            tokens = [self.special["bos"], *ids[:n - 3].tolist(), self.special["eos"]][:n - 1]
            out[row] = tokens + [pad] * (n - 1 - len(tokens)) + [cls]
        return out


def save_compact(folder: Path, context_length: int, language: str | None = None,
                 **options: Any) -> bool:
    """Write the compact form of ``folder``'s ``tokenizer.json`` beside it (a cache folder
    of photoplug's, never a user's model folder), kept only when it gives the whole
    tokenizer's ids on ``CHECK_TEXTS``; whether the folder has one now."""
    import os
    import shutil
    target = folder / COMPACT
    if target.is_dir():
        return True
    made = folder / f".{COMPACT}.{os.getpid()}"
    shutil.rmtree(made, ignore_errors=True)
    try:
        write(folder / "tokenizer.json", made)
        whole = HFTokenizer(folder, context_length, compact=False, **options)
        vocabulary = CompactVocabulary.load(made)
        if vocabulary is None:
            raise Unsupported("the compact form cannot be read back")
        compact = HFTokenizer(folder, context_length, compact=vocabulary, **options)
        if language:
            whole.set_language(language)
            compact.set_language(language)
        expected = whole(CHECK_TEXTS)  # each text alone too: its own pieces only
        if not np.array_equal(expected, compact(CHECK_TEXTS)) or not all(
                np.array_equal(row, compact([text])[0])
                for row, text in zip(expected, CHECK_TEXTS)):
            raise Unsupported("the compact form's ids differ from the whole tokenizer's")
    except Exception:  # tokenizers' own errors too: queries then load the whole tokenizer
        shutil.rmtree(made, ignore_errors=True)
        return False
    replace_atomically(made, target)
    return target.is_dir()
