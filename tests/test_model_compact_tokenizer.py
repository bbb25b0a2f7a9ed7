"""The compact form of a HuggingFace tokenizer gives the ``tokenizers`` library's own ids.

Tokenizers of the kinds photoplug's models use are trained here by the ``tokenizers``
library on a small multilingual corpus: a Unigram with SentencePiece's Metaspace (SigLIP,
XLM-RoBERTa), a Gemma-like BPE with byte fallback and no pre-tokenizer (SigLIP2's), and
a byte-level BPE; toy-siglip-ml's own tokenizer too. Each is read whole and through its
compact form, on texts in many languages and scripts, random mixtures of its words and
characters, and special tokens inside a text.
"""
from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from tokenizers import (Tokenizer, decoders, models, normalizers, pre_tokenizers, processors,
                        trainers)

from conftest import SHARED
from photoplug.model import compact_tokenizer
from photoplug.model.compact_tokenizer import CHECK_TEXTS, FOLDER, CompactVocabulary
from photoplug.model.hf_tokenizer import HFTokenizer, save_compact

CORPUS = [
    "a photo of a dog on the beach at sunset", "two children playing football in the park",
    "une photo d'un chien sur la plage au coucher du soleil", "deux enfants jouent au football",
    "ein Foto von einem Hund am Strand bei Sonnenuntergang", "zwei Kinder spielen Fußball",
    "una foto de un perro en la playa al atardecer", "dos niños jugando al fútbol",
    "夕暮れの海辺の犬の写真", "公園でサッカーをする二人の子供", "日落时海滩上的一只狗的照片",
    "在公园里踢足球的两个孩子", "해질녘 해변의 강아지 사진", "공원에서 축구를 하는 두 아이",
    "фотография собаки на пляже на закате", "двое детей играют в футбол в парке",
    "صورة كلب على الشاطئ عند غروب الشمس", "طفلان يلعبان كرة القدم في الحديقة",
    "Ünïcödé ＦＵＬＬ width 12345 3.14 naïve résumé 🏖️🐕"] * 20
SPECIALS = ["<pad>", "</s>", "<s>", "<unk>"]
TEXTS = CHECK_TEXTS + [line.upper() for line in CORPUS[:19]] + [
    "dogs", "playing in the snow", "写真写真写真", "Strandhund", "a  b", " leading space",
    "<s>inside</s> specials <pad>", "ab<unk>cd", "<s>photo</s>foto<pad>写真", "dog<unk>chien", "\x00\x01 ctrl", "ﬁ Ⅻ", "ὕαλον ϕαγεῖν",
    "ℌ𝔢𝔩𝔩𝔬", "🙂" * 20, "x" * 300]


def trained(kind: str, folder: Path) -> Path:
    """A tokenizer of ``kind`` trained on CORPUS, saved as tokenizer.json with a
    tokenizer_config.json naming its pad and eos tokens."""
    if kind == "unigram":
        tok = Tokenizer(models.Unigram())
        tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                                     pre_tokenizers.Metaspace()])
        tok.decoder = decoders.Metaspace()
        trainer = trainers.UnigramTrainer(vocab_size=600, special_tokens=SPECIALS,
                                          unk_token="<unk>")
    elif kind == "gemma-bpe":  # SentencePiece BPE as Gemma's: spaces to ▁, byte fallback
        tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
        tok.normalizer = normalizers.Replace(" ", "▁")
        trainer = trainers.BpeTrainer(vocab_size=700, special_tokens=SPECIALS + [
            f"<0x{b:02X}>" for b in range(256)], limit_alphabet=120)
    else:  # byte-level BPE (GPT-2's, RoBERTa's)
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=700, special_tokens=SPECIALS,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", tok.token_to_id("<s>")),
                                              ("</s>", tok.token_to_id("</s>"))])
    folder.mkdir(parents=True, exist_ok=True)
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"pad_token": "<pad>", "bos_token": "<s>", "eos_token": "</s>",
         "unk_token": "<unk>"}))
    return folder


def random_texts(tokenizer_json: Path, count: int = 60) -> list[str]:
    """Seeded mixtures of the vocabulary's pieces, the corpus' characters and specials."""
    rng = random.Random(0)
    data = json.loads(tokenizer_json.read_text())
    vocab = data["model"]["vocab"]
    pieces = [p for p, _ in vocab] if isinstance(vocab, list) else list(vocab)
    chars = sorted(set("".join(CORPUS)))
    texts = []
    for _ in range(count):
        parts = [rng.choice(pieces).replace("▁", " ") if rng.random() < 0.6 else
                 "".join(rng.choices(chars, k=rng.randint(1, 6)))
                 for _ in range(rng.randint(1, 9))]
        if rng.random() < 0.2:
            parts.insert(rng.randrange(len(parts) + 1), rng.choice(SPECIALS))
        texts.append(rng.choice(["", " "]).join(parts))
    return texts


@pytest.mark.parametrize("kind", ["unigram", "gemma-bpe", "byte-bpe", "toy-siglip-ml"])
@pytest.mark.parametrize("clean", ["whitespace", "canonicalize"])
def test_compact_ids_are_the_tokenizers_librarys(tmp_path: Path, kind: str, clean: str) -> None:
    folder = tmp_path / kind
    if kind == "toy-siglip-ml":
        shutil.copytree(SHARED / "models" / "toy-siglip-ml", folder)
    else:
        trained(kind, folder)
    assert save_compact(folder, 64, clean=clean)
    assert (folder / FOLDER / "skeleton.json").is_file()
    whole = HFTokenizer(folder, 64, clean=clean, compact=False)
    compact = HFTokenizer(folder, 64, clean=clean)
    assert compact.compact is not None and compact.full is None
    texts = TEXTS + random_texts(folder / "tokenizer.json")
    theirs = whole(texts)
    assert np.array_equal(compact(texts), theirs)  # a batch (the pieces of all its texts)
    differ = [t for t, row in zip(texts, theirs) if not np.array_equal(compact([t])[0], row)]
    assert not differ, differ[:5]  # and each text alone, as a query
    assert (theirs != whole.special["pad"]).sum() > len(texts)  # real tokens, not all padding
    for text in texts[:40]:  # without special tokens or padding
        assert compact.encode(text) == whole.encode(text)
    for token in SPECIALS + ["▁", "no-such-piece"]:
        assert compact.token_id(token) == whole.token_id(token)


def test_the_language_token_and_clips_mode_are_kept(tmp_path: Path) -> None:
    folder = trained("unigram", tmp_path / "t")
    save_compact(folder, 16)
    for mode in (None, "clips"):
        whole = HFTokenizer(folder, 16, tokenizer_mode=mode, compact=False)
        compact = HFTokenizer(folder, 16, tokenizer_mode=mode)
        if mode is None:  # NLLB's way: a language code first (here an added special token)
            whole.set_language("<s>")
            compact.set_language("<s>")
        assert np.array_equal(compact(TEXTS), whole(TEXTS))


def test_a_compact_form_that_would_differ_is_not_kept(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    folder = trained("gemma-bpe", tmp_path / "t")
    tokenizer_for = CompactVocabulary.tokenizer_for

    def without_merges(self: CompactVocabulary, texts: list[str]):  # type: ignore[no-untyped-def]
        self.merges = self.merges[:0]  # a form that lost its merges
        return tokenizer_for(self, texts)

    monkeypatch.setattr(CompactVocabulary, "tokenizer_for", without_merges)
    assert not save_compact(folder, 64)
    assert not (folder / FOLDER).exists() and not list(folder.glob(f".{FOLDER}*"))
    assert HFTokenizer(folder, 64).full is not None  # the whole tokenizer is read instead


def test_a_model_kind_it_does_not_cover_reads_the_whole_file(tmp_path: Path) -> None:
    folder = tmp_path / "wordpiece"
    folder.mkdir()
    tok = Tokenizer(models.WordPiece({"[UNK]": 0, "[PAD]": 1, "a": 2}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({"pad_token": "[PAD]"}))
    with pytest.raises(compact_tokenizer.Unsupported):
        compact_tokenizer.write(folder / "tokenizer.json", tmp_path / "out")
    assert not save_compact(folder, 8)
    assert HFTokenizer(folder, 8)(["a a"])[0].tolist()[:2] == [2, 2]


def test_a_damaged_compact_form_falls_back_to_the_whole_file(tmp_path: Path) -> None:
    folder = trained("unigram", tmp_path / "t")
    save_compact(folder, 32)
    (folder / FOLDER / "skeleton.json").write_text("{not json")
    tokenizer = HFTokenizer(folder, 32)
    assert tokenizer.full is not None
    assert np.array_equal(tokenizer(TEXTS), HFTokenizer(folder, 32, compact=False)(TEXTS))
