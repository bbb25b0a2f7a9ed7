"""Models of real open_clip architectures with seeded random weights, as local-dir
folders photoplug loads offline: the real model's compute, which is what speed depends on.

SigLIP2's Gemma tokenizer cannot be downloaded here, so a stand-in of the same size (a
Unigram tokenizer.json of 256,000 pieces, read by the same ``tokenizers`` code) takes its
place: its load time is the real one's to within the file's size.
"""
from __future__ import annotations

import json
from pathlib import Path


def stand_in_tokenizer(folder: Path, size: int, context: int) -> None:
    """A Unigram tokenizer of ``size`` pieces, SigLIP2's shape (Metaspace, </s> appended)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<s>", 0.0), ("<unk>", 0.0)]
    pieces += [(chr(c), -20.0) for c in range(33, 127)]
    pieces += [(f"\u2581w{i}", -10.0 - i * 1e-5) for i in range(size - len(pieces))]
    tok = Tokenizer(models.Unigram(pieces, unk_id=3))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>",
                                                       special_tokens=[("</s>", 1)])
    folder.mkdir(parents=True, exist_ok=True)
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "pad_token": "<pad>",
        "eos_token": "</s>", "unk_token": "<unk>", "model_max_length": context}))


def model_folder(arch: str, root: Path) -> str:
    """``arch`` with seeded random weights as a local-dir model (a stand-in tokenizer
    where the real one is a download)."""
    import open_clip
    import torch
    from safetensors.torch import save_file
    cfg = open_clip.get_model_config(arch)
    folder = root / arch
    text = cfg.get("text_cfg", {})
    if "hf_tokenizer_name" in text:
        stand_in_tokenizer(folder, text["vocab_size"], text["context_length"])
        text["hf_tokenizer_name"] = "local"  # the folder's own tokenizer.json
    torch.manual_seed(0)
    model = open_clip.create_model(arch)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "open_clip_config.json").write_text(json.dumps(
        {"model_cfg": cfg, "preprocess_cfg": model.visual.preprocess_cfg}))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              str(folder / "open_clip_model.safetensors"))
    return f"local-dir:{folder}"
