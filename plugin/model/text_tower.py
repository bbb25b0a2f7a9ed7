"""CLIP's text encoder in numpy, over a query's real tokens only.

A search encodes one short query, so the text tower runs here without torch: the same
weights, taken from the open_clip model once and kept as memory-mapped ``.npy`` files,
the same arithmetic (checked against ``encode_text`` when the copy is made, and in the
tests). Only positions up to the end-of-text token are computed: CLIP's causal mask means
the padding after it never changes the result. Models whose text tower is not the
standard CLIP one (custom text towers, other pooling, no causal mask, HF tokenizers) are
not copied and keep using open_clip.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import platformdirs

from photoplug.model.clip_tokenizer import ClipTokenizer, open_clip_vocabulary

FORMAT = 2  # 2: the config records the model's logit scale
CHECK_TEXTS = ["a photo of a dog on the beach", "Café été 写真", "x"]
MIN_COSINE = 0.9999


def cache_folder(weights_hash: str) -> Path:
    """Where the text tower of the weights with this content hash is kept."""
    return (Path(platformdirs.user_cache_dir("photoplug")) / "text-towers"
            / f"{weights_hash}-v{FORMAT}")


def _erf(x: np.ndarray) -> np.ndarray:
    """erf to float32 precision (Abramowitz & Stegun 7.1.26, error < 1.5e-7)."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (
        -1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def model_logit_scale(model: Any) -> float:
    """exp(logit_scale) of an open_clip model: the temperature its softmax was trained
    with (100 for OpenAI's CLIP); 100 for a model without one."""
    scale = getattr(model, "logit_scale", None)
    return float(scale.detach().exp()) if scale is not None else 100.0


class TextTower:
    """The text half of a CLIP model as numpy arrays, with its tokenizer."""

    def __init__(self, weights: Mapping[str, np.ndarray], config: dict[str, Any]) -> None:
        self.w = weights
        self.config = config
        self.tokenizer = ClipTokenizer(open_clip_vocabulary(), config["context_length"])

    @property
    def logit_scale(self) -> float:
        """The model's learned softmax scale (exp of its ``logit_scale`` parameter)."""
        return float(self.config["logit_scale"])

    @property
    def dim(self) -> int:
        return int(self.w["text_projection"].shape[1])

    def encode(self, texts: list[str], chunk: int = 32) -> np.ndarray:
        """L2-normalised embeddings, one row per text. Texts of like length are encoded
        together, each group only as far as its longest text."""
        tokens = self.tokenizer(texts)
        ends = tokens.argmax(axis=1)  # the end-of-text token has the highest id
        order = np.argsort(ends, kind="stable")
        out = np.empty((len(texts), self.dim), np.float32)
        for start in range(0, len(texts), chunk):
            rows = order[start:start + chunk]
            out[rows] = self._encode(tokens[rows], ends[rows])
        return out

    def _encode(self, tokens: np.ndarray, ends: np.ndarray) -> np.ndarray:
        w, cfg = self.w, self.config
        length = int(ends.max()) + 1
        x = w["token_embedding"][tokens[:, :length]] + w["positional_embedding"][:length]
        batch, width, heads = len(tokens), x.shape[-1], cfg["heads"]
        head_dim = width // heads
        mask = np.triu(np.full((length, length), -np.inf, np.float32), 1)
        for i in range(cfg["layers"]):
            p = f"blocks.{i}."
            h = _layer_norm(x, w[p + "ln_1.weight"], w[p + "ln_1.bias"], cfg["eps"])
            qkv = h @ w[p + "in_proj"] + w[p + "in_proj_bias"]
            q, k, v = (part.reshape(batch, length, heads, head_dim).transpose(0, 2, 1, 3)
                       for part in np.split(qkv, 3, axis=-1))
            scores = (q / np.float32(np.sqrt(head_dim))) @ k.transpose(0, 1, 3, 2) + mask
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            attended = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, length, width)
            x = x + attended @ w[p + "out_proj"] + w[p + "out_proj_bias"]
            h = _layer_norm(x, w[p + "ln_2.weight"], w[p + "ln_2.bias"], cfg["eps"])
            h = h @ w[p + "c_fc"] + w[p + "c_fc_bias"]
            if cfg["act"] == "quick_gelu":
                h = h / (1.0 + np.exp(-1.702 * h))
            else:
                h = 0.5 * h * (1.0 + _erf(h / np.float32(np.sqrt(2.0))))
            x = x + h.astype(np.float32) @ w[p + "c_proj"] + w[p + "c_proj_bias"]
        x = _layer_norm(x, w["ln_final.weight"], w["ln_final.bias"], cfg["eps"])
        out = (x[np.arange(batch), ends] @ w["text_projection"]).astype(np.float32)
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out

    # -- made from an open_clip model, kept on disk ------------------------------------

    @classmethod
    def from_model(cls, model: Any, tokenizer: Any) -> TextTower | None:
        """A copy of ``model``'s text tower, or None when it is not a standard CLIP text
        tower this module computes exactly (checked on sample texts)."""
        import open_clip
        import torch
        from open_clip.transformer import QuickGELU
        blocks = getattr(getattr(model, "transformer", None), "resblocks", None)
        if not (isinstance(model, open_clip.CLIP) and blocks is not None
                and getattr(model, "text_pool_type", None) == "argmax"
                and model.attn_mask is not None
                and isinstance(model.text_projection, torch.nn.Parameter)
                and isinstance(tokenizer, open_clip.tokenizer.SimpleTokenizer)):
            return None
        acts = {type(b.mlp.gelu) for b in blocks}
        ok_blocks = all(isinstance(b.ls_1, torch.nn.Identity) and isinstance(
            b.ls_2, torch.nn.Identity) and not hasattr(b, "ln_1_kv")
            and b.attn.in_proj_weight is not None and b.attn.in_proj_bias is not None
            and getattr(b.mlp.gelu, "approximate", "none") == "none" for b in blocks)
        if not ok_blocks or len(acts) != 1 or acts.pop() not in (QuickGELU, torch.nn.GELU):
            return None

        def arr(t: Any, transpose: bool = False) -> np.ndarray:
            a = t.detach().float().cpu().numpy()
            return np.ascontiguousarray(a.T if transpose else a)

        w = {"token_embedding": arr(model.token_embedding.weight),
             "positional_embedding": arr(model.positional_embedding),
             "ln_final.weight": arr(model.ln_final.weight),
             "ln_final.bias": arr(model.ln_final.bias),
             "text_projection": arr(model.text_projection)}
        for i, b in enumerate(blocks):
            p = f"blocks.{i}."
            w.update({p + "ln_1.weight": arr(b.ln_1.weight), p + "ln_1.bias": arr(b.ln_1.bias),
                      p + "ln_2.weight": arr(b.ln_2.weight), p + "ln_2.bias": arr(b.ln_2.bias),
                      p + "in_proj": arr(b.attn.in_proj_weight, True),
                      p + "in_proj_bias": arr(b.attn.in_proj_bias),
                      p + "out_proj": arr(b.attn.out_proj.weight, True),
                      p + "out_proj_bias": arr(b.attn.out_proj.bias),
                      p + "c_fc": arr(b.mlp.c_fc.weight, True), p + "c_fc_bias": arr(b.mlp.c_fc.bias),
                      p + "c_proj": arr(b.mlp.c_proj.weight, True),
                      p + "c_proj_bias": arr(b.mlp.c_proj.bias)})
        config = {"format": FORMAT, "layers": len(blocks), "heads": blocks[0].attn.num_heads,
                  "eps": float(model.ln_final.eps), "context_length": int(model.context_length),
                  "act": "quick_gelu" if isinstance(blocks[0].mlp.gelu, QuickGELU) else "gelu",
                  "logit_scale": model_logit_scale(model)}
        tower = cls(w, config)
        with torch.inference_mode():
            try:
                ours = tower.encode(CHECK_TEXTS)
            except (KeyError, ValueError):  # a vocabulary or shape this copy does not fit
                return None
            theirs = model.encode_text(tokenizer(CHECK_TEXTS)).float().cpu().numpy()
        theirs /= np.linalg.norm(theirs, axis=1, keepdims=True)
        if float((ours * theirs).sum(1).min()) < MIN_COSINE:
            return None
        return tower

    def save(self, folder: Path) -> None:
        """Write the tower as ``.npy`` files, atomically (a half-written copy is never read)."""
        tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for name, array in self.w.items():
            np.save(tmp / f"{name}.npy", array)
        (tmp / "tower.json").write_text(json.dumps(self.config))
        try:
            os.replace(tmp, folder)
        except OSError:  # another process saved it first
            shutil.rmtree(tmp, ignore_errors=True)

    @classmethod
    def load(cls, folder: Path) -> TextTower | None:
        """The tower saved in ``folder`` (memory-mapped), or None if there is none."""
        try:
            config = json.loads((folder / "tower.json").read_text())
            if config.get("format") != FORMAT:
                return None
            weights = {p.stem: np.load(p, mmap_mode="r") for p in folder.glob("*.npy")}
        except (OSError, ValueError):
            return None
        return cls(weights, config)
