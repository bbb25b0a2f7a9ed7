"""A large HuggingFace ``tokenizer.json`` kept so that a query loads only the pieces it uses.

``tokenizers`` builds its whole model when it loads a file: for a 256,000-piece
vocabulary (SigLIP2's Gemma tokenizer, XLM-RoBERTa's) that takes a quarter of a second
on an idle CPU and over a second on a busy one, more than the rest of a cold search. The
compact form (``write``, a folder beside the file) keeps the vocabulary as arrays: the
pieces' UTF-8 in one file with their offsets, their 64-bit hashes sorted for lookup, the
Unigram scores or BPE merges by id; the rest of ``tokenizer.json`` (normalizer,
pre-tokenizer, post-processor, added tokens, model options) stays JSON.

``CompactVocabulary.tokenizer_for(texts)`` looks up every substring of the texts'
normalised, pre-tokenized words and builds, with the same library, a tokenizer of those
pieces alone, plus the added tokens, the unknown and byte-fallback pieces, and (Unigram)
the lowest-scored piece, which sets the score of an unknown character. A Unigram or BPE
model only ever uses pieces found in the word it splits (BPE merges only make
substrings; the merges kept are those of found pieces, in their order), so the small
tokenizer gives the full one's segmentation; its ids are mapped back to the full
vocabulary's (``to_real``). ``hf_tokenizer.save_compact`` writes the form only when it
gives the full tokenizer's ids on ``CHECK_TEXTS``.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

FOLDER = "compact-tokenizer"
MODELS = ("Unigram", "BPE")
# Queries in many languages and scripts, specials and truncation: the compact form is kept
# only when it gives the full tokenizer's ids on all of them.
CHECK_TEXTS = [
    "a photo of a dog on the beach", "Café été à la plage", "ein Foto von einem roten Kreis",
    "una foto de un perro en la playa", "海辺の犬の写真", "海滩上的一只狗", "해변의 강아지 사진",
    "фотография собаки на пляже", "صورة كلب على الشاطئ", "कुत्ते की तस्वीर", "Ünïcödé ＦＵＬＬ_width!!",
    "x", "", "  spaces\n\tand\ttabs  ", "<pad></s><s><unk> specials inside", "🏖️🐕 emoji",
    "it's a DOG's life, isn't it? 12345 3.14", "a very long query " * 40]


def _key(piece: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(piece, digest_size=8).digest(), "little")


class Unsupported(ValueError):
    """A tokenizer this form does not reproduce (another model kind, option or layout)."""


def write(tokenizer_json: Path, folder: Path) -> None:
    """Write the compact form of ``tokenizer_json`` into ``folder`` (new); Unsupported
    for a model or post-processor it does not cover."""
    from tokenizers import Tokenizer
    data = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    model = data["model"]
    kind = model.get("type")
    if kind not in MODELS or model.get("dropout"):
        raise Unsupported(f"a {kind} model is not kept in compact form")
    if kind == "Unigram":
        pieces = [p for p, _ in model["vocab"]]
        scores = np.asarray([s for _, s in model["vocab"]], np.float64)
    else:
        vocab: dict[str, int] = model["vocab"]
        pieces = sorted(vocab, key=vocab.__getitem__)
        if [vocab[p] for p in pieces] != list(range(len(pieces))):
            raise Unsupported("BPE ids are not 0..N-1")
    full = Tokenizer.from_str(json.dumps(data))  # added tokens' ids as the library gives them
    added = {t["content"]: full.token_to_id(t["content"]) for t in data.get("added_tokens", [])}
    encoded = [p.encode("utf-8") for p in pieces]
    ids = {p: i for i, p in enumerate(pieces)}  # a piece listed twice: its last id, as there
    always = set(i for i in added.values() if i < len(pieces))
    always.update(ids[f"<0x{b:02X}>"] for b in range(256) if f"<0x{b:02X}>" in ids)
    # the tokens the post-processor adds and those tokenizer_config.json names (pad...)
    named = _special_tokens(tokenizer_json.with_name("tokenizer_config.json"))
    _remap_processor(data.get("post_processor"), lambda token: named.append(token) or 0)
    always.update(ids[token] for token in named if token in ids)
    arrays: dict[str, np.ndarray] = {}
    if kind == "Unigram":
        if model.get("unk_id") is not None:
            always.add(int(model["unk_id"]))
        if len(scores):
            always.add(int(scores.argmin()))  # the unknown score is the lowest minus 10
        arrays["scores"] = scores
    else:
        if model.get("unk_token") in ids:
            always.add(ids[model["unk_token"]])
        arrays["merges"] = _merge_ids(model, ids)
    keys = np.asarray([_key(p) for p in encoded], np.uint64)
    order = np.argsort(keys, kind="stable")
    arrays.update(keys=keys[order], order=order.astype(np.int32),
                  offsets=np.concatenate([[0], np.cumsum([len(p) for p in encoded])]))
    model = {k: v for k, v in model.items() if k not in ("vocab", "merges")}
    skeleton = {"tokenizer": {**data, "model": model}, "added": added,
                "always": sorted(always), "max_chars": max(map(len, pieces), default=1)}
    folder.mkdir(parents=True)
    (folder / "pieces.bin").write_bytes(b"".join(encoded))
    for name, array in arrays.items():
        np.save(folder / f"{name}.npy", array)
    (folder / "skeleton.json").write_text(json.dumps(skeleton), encoding="utf-8")


def _special_tokens(config_file: Path) -> list[str]:
    """The special tokens ``tokenizer_config.json`` names (``pad_token``...)."""
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    values = [v for k, v in config.items() if k.endswith("_token")]
    values = [v.get("content") if isinstance(v, dict) else v for v in values]
    return [v for v in values if isinstance(v, str)]


def _merge_ids(model: dict[str, Any], ids: dict[str, int]) -> np.ndarray:
    """BPE merges as (left, right, merged) ids, in rank order, as ``tokenizers`` forms
    the merged piece (the continuing-subword prefix of the right piece dropped)."""
    prefix = model.get("continuing_subword_prefix") or ""
    rows = []
    for merge in model.get("merges", []):
        left, right = merge.split(" ", 1) if isinstance(merge, str) else merge
        merged = left + (right[len(prefix):] if prefix and right.startswith(prefix) else right)
        if left not in ids or right not in ids or merged not in ids:
            raise Unsupported(f"merge {left!r} {right!r} outside the vocabulary")
        rows.append((ids[left], ids[right], ids[merged]))
    return np.asarray(rows, np.int32).reshape(-1, 3)


def _remap_processor(processor: Any, token_id: Callable[[str], int | None]) -> Any:
    """A post-processor's JSON with its special tokens' ids as ``token_id`` gives them."""
    if processor is None or processor.get("type") == "ByteLevel":
        return processor
    kind = processor.get("type")
    out = dict(processor)
    if kind == "Sequence":
        out["processors"] = [_remap_processor(p, token_id) for p in processor["processors"]]
    elif kind == "TemplateProcessing":
        out["special_tokens"] = {name: {**special, "ids": [_id(token_id, t)
                                                           for t in special["tokens"]]}
                                 for name, special in processor["special_tokens"].items()}
    elif kind in ("BertProcessing", "RobertaProcessing"):
        out.update({part: [processor[part][0], _id(token_id, processor[part][0])]
                    for part in ("sep", "cls")})
    else:
        raise Unsupported(f"a {kind} post-processor is not kept in compact form")
    return out


def _id(token_id: Callable[[str], int | None], token: str) -> int:
    found = token_id(token)
    if found is None:
        raise Unsupported(f"the post-processor's token {token!r} has no id")
    return found


class CompactVocabulary:
    """A compact form on disk (memory-mapped): small tokenizers for given texts."""

    def __init__(self, folder: Path) -> None:
        from tokenizers import Tokenizer
        skeleton = json.loads((folder / "skeleton.json").read_text(encoding="utf-8"))
        self.json: dict[str, Any] = skeleton["tokenizer"]
        self.kind = self.json["model"]["type"]
        self.added: dict[str, int] = skeleton["added"]
        self.always = np.asarray(skeleton["always"], np.int64)
        self.max_chars = int(skeleton["max_chars"])
        self.pieces = np.memmap(folder / "pieces.bin", np.uint8, "r") \
            if (folder / "pieces.bin").stat().st_size else np.zeros(0, np.uint8)
        load = lambda name: np.load(folder / f"{name}.npy", mmap_mode="r")  # noqa: E731
        self.offsets, self.keys, self.order = load("offsets"), load("keys"), load("order")
        self.scores = load("scores") if self.kind == "Unigram" else None
        self.merges = load("merges") if self.kind == "BPE" else None
        # the normalizer and pre-tokenizer, over a model of the pieces always kept
        bare = {**self.json, "post_processor": None, "model": self._model(self.always)}
        self._bare = Tokenizer.from_str(json.dumps(bare))
        contents = sorted(self.added, key=len, reverse=True)
        self._specials = re.compile("|".join(map(re.escape, contents))) if contents else None

    @classmethod
    def load(cls, folder: Path) -> CompactVocabulary | None:
        try:
            return cls(folder)
        except (OSError, ValueError, KeyError):
            return None

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def piece(self, index: int) -> str:
        return bytes(self.pieces[self.offsets[index]:self.offsets[index + 1]]).decode("utf-8")

    def token_to_id(self, token: str) -> int | None:
        """The full tokenizer's id of ``token`` (an added token's first, as there)."""
        if token in self.added:
            return self.added[token]
        found = self._lookup({token})
        return int(found[0]) if len(found) else None

    def id_to_token(self, index: int) -> str | None:
        for token, found in self.added.items():
            if found == index:
                return token
        return self.piece(index) if 0 <= index < len(self) else None

    def _lookup(self, candidates: Iterable[str]) -> np.ndarray:
        """The ids of the candidates that are pieces (hash, then the bytes compared; a
        piece listed twice has its last id, as in ``tokenizers``)."""
        encoded = [c.encode("utf-8") for c in candidates]
        keys = np.asarray([_key(c) for c in encoded], np.uint64)
        at = np.searchsorted(self.keys, keys)
        found = []
        for candidate, key, i in zip(encoded, keys, at):
            match = -1
            while i < len(self.keys) and self.keys[i] == key:
                index = int(self.order[i])
                start, end = self.offsets[index], self.offsets[index + 1]
                if end - start == len(candidate) and bytes(self.pieces[start:end]) == candidate:
                    match = max(match, index)
                i += 1
            if match >= 0:
                found.append(match)
        return np.asarray(found, np.int64)

    def _words(self, texts: Iterable[str]) -> set[str]:
        """Every word the model may be given for ``texts``: pre-tokenized from the whole
        normalised text, and from its parts between added tokens (found before or after
        normalising), whose pre-tokenizer may treat a part's start as a word's."""
        normalizer, pre = self._bare.normalizer, self._bare.pre_tokenizer
        parts: set[str] = set()
        for text in texts:
            for segment in {text, *(self._specials.split(text) if self._specials else ())}:
                normal = normalizer.normalize_str(segment) if normalizer else segment
                parts.add(normal)
                if self._specials:
                    parts.update(self._specials.split(normal))
        if pre is None:
            return parts
        return {word for part in parts for word, _ in pre.pre_tokenize_str(part)}

    def _candidates(self, texts: Iterable[str]) -> set[str]:
        model = self.json["model"]
        prefix, suffix = (model.get("continuing_subword_prefix") or "",
                          model.get("end_of_word_suffix") or "")
        out: set[str] = set()
        for word in self._words(texts):
            for i in range(len(word)):
                for j in range(i + 1, min(len(word), i + self.max_chars) + 1):
                    out.add(word[i:j])
        if prefix or suffix:
            out |= {prefix + c for c in out} | {c + suffix for c in out} | \
                {prefix + c + suffix for c in out}
        return out

    def _model(self, keep: np.ndarray) -> dict[str, Any]:
        """The model's JSON over the pieces ``keep`` (full ids, ascending), numbered from 0."""
        model = dict(self.json["model"])
        if self.kind == "Unigram":
            assert self.scores is not None
            model["vocab"] = [[self.piece(int(i)), float(self.scores[i])] for i in keep]
            unk = model.get("unk_id")
            model["unk_id"] = None if unk is None else int(np.searchsorted(keep, unk))
            return model
        assert self.merges is not None
        model["vocab"] = {self.piece(int(i)): n for n, i in enumerate(keep)}
        present = np.zeros(len(self), bool)
        present[keep] = True
        merges = self.merges[present[self.merges[:, 0]] & present[self.merges[:, 1]]
                             & present[self.merges[:, 2]]]
        model["merges"] = [[self.piece(int(a)), self.piece(int(b))] for a, b, _ in merges]
        return model

    def tokenizer_for(self, texts: list[str]) -> tuple[Any, np.ndarray]:
        """A ``tokenizers.Tokenizer`` that splits ``texts`` as the full one does, and the
        array mapping its ids to the full tokenizer's."""
        from tokenizers import Tokenizer
        keep = np.union1d(self._lookup(self._candidates(texts)), self.always)
        data = {**self.json, "model": self._model(keep), "post_processor": None}
        tokenizer = Tokenizer.from_str(json.dumps(data))
        to_real = np.zeros(tokenizer.get_vocab_size(with_added_tokens=True), np.int64)
        to_real[:len(keep)] = keep
        for token, real in self.added.items():
            to_real[tokenizer.token_to_id(token)] = real
        if self.json.get("post_processor") is not None:
            data["post_processor"] = _remap_processor(self.json["post_processor"],
                                                      tokenizer.token_to_id)
            tokenizer = Tokenizer.from_str(json.dumps(data))
        return tokenizer, to_real


def replace_atomically(made: Path, folder: Path) -> None:
    """Move ``made`` to ``folder`` unless another process got there first."""
    try:
        os.replace(made, folder)
    except OSError:
        shutil.rmtree(made, ignore_errors=True)
