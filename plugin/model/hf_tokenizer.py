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
"""
from __future__ import annotations

import html
import json
import string
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

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
    ``HFTokenizer`` gives them."""

    def __init__(self, folder: str | Path, context_length: int, clean: str = "whitespace",
                 strip_sep_token: bool = False, tokenizer_mode: str | None = None) -> None:
        from tokenizers import Tokenizer
        from tokenizers.processors import TemplateProcessing
        folder = Path(folder)
        self.context_length = int(context_length)
        self.clean = clean_fn(clean)
        self.strip_sep_token = strip_sep_token
        self.mode = tokenizer_mode or ""
        if self.mode not in ("", "clips"):
            raise ValueError(f"open_clip tokenizer_mode {tokenizer_mode!r} is not reproduced")
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        config_file = folder / "tokenizer_config.json"
        config: dict[str, Any] = json.loads(config_file.read_text()) if config_file.exists() else {}
        self.special = {name: self._id(_token(config.get(f"{name}_token")))
                        for name in ("pad", "bos", "eos", "sep", "cls", "unk")}
        # transformers rewrites the post-processor when the config says add_bos/eos_token
        if "add_bos_token" in config or "add_eos_token" in config:
            bos, eos = _token(config.get("bos_token")), _token(config.get("eos_token"))
            add_bos = bool(config.get("add_bos_token")) and bos is not None
            add_eos = bool(config.get("add_eos_token")) and eos is not None
            single = f"{bos + ':0 ' if add_bos else ''}$A:0{' ' + eos + ':0' if add_eos else ''}"
            pair = (f"{single}{' ' + bos + ':1' if add_bos else ''} $B:1"
                    f"{' ' + eos + ':1' if add_eos else ''}")
            specials = ([(bos, self.special["bos"])] if add_bos else []) + \
                ([(eos, self.special["eos"])] if add_eos else [])
            self.tokenizer.post_processor = TemplateProcessing(
                single=single, pair=pair, special_tokens=specials)
        if self.mode == "clips":
            self.tokenizer.no_truncation()
            self.tokenizer.no_padding()
            return
        self.tokenizer.enable_truncation(
            self.context_length, stride=0, strategy="longest_first",
            direction=config.get("truncation_side", "right"))
        pad_token = _token(config.get("pad_token"))
        if pad_token is None or self.special["pad"] is None:
            raise ValueError(f"{folder}: the tokenizer has no pad token to pad with")
        self.tokenizer.enable_padding(
            direction=config.get("padding_side", "right"), pad_id=self.special["pad"],
            pad_type_id=0, pad_token=pad_token, length=self.context_length)

    def set_language(self, code: str) -> None:
        """NLLB's source language (open_clip's ``set_language``, transformers'
        ``set_src_lang_special_tokens``, non-legacy): ``code`` text ``</s>``."""
        from tokenizers.processors import TemplateProcessing
        lang, eos = self._id(code), self.special["eos"]
        if lang is None or eos is None:
            raise ValueError(f"the tokenizer has no language token {code!r} or no eos token")
        eos_token = self.tokenizer.id_to_token(eos)
        self.tokenizer.post_processor = TemplateProcessing(
            single=[code, "$A", eos_token], pair=[code, "$A", "$B", eos_token],
            special_tokens=[(eos_token, eos), (code, lang)])

    def _id(self, token: str | None) -> int | None:
        return None if token is None else self.tokenizer.token_to_id(token)

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
        return self.tokenizer.encode(self.clean(text), add_special_tokens=False).ids

    def __call__(self, texts: str | Sequence[str]) -> np.ndarray:
        if isinstance(texts, str):
            texts = [texts]
        cleaned = [self.clean(text) for text in texts]
        if self.mode == "clips":
            return self._clips(cleaned)
        rows = [e.ids for e in self.tokenizer.encode_batch(cleaned)]
        out = np.asarray(rows, dtype=np.int64).reshape(len(cleaned), self.context_length)
        if self.strip_sep_token and self.special["sep"] is not None:
            out[out == self.special["sep"]] = 0
        return out

    def _clips(self, texts: list[str]) -> np.ndarray:
        """open_clip's 'clips' mode: bos, text (cut to context - 3), eos, pad, class token."""
        n = self.context_length
        out = np.zeros((len(texts), n), dtype=np.int64)
        pad = self.special["pad"] or 0
        cls = self.special["cls"] if self.special["cls"] is not None else 101
        for row, encoding in enumerate(self.tokenizer.encode_batch(
                texts, add_special_tokens=False)):
            tokens = [self.special["bos"], *encoding.ids[:n - 3], self.special["eos"]][:n - 1]
            out[row] = tokens + [pad] * (n - 1 - len(tokens)) + [cls]
        return out
