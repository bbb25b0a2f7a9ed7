"""open_clip's ``TextTransformer`` in numpy, with its tokenizer, for searches without torch.

One implementation for the CLIP family and for SigLIP2-structured towers, parameterised
by what ``from_model`` reads off the open_clip model (and checks on sample texts):

- attention causal (CLIP) or bidirectional (SigLIP2, MobileCLIP2-S0..S4, ``no_causal_mask``);
  open_clip applies no padding mask in either case (``use_pad_mask`` is never set from a
  config), so in a bidirectional tower the padding tokens change the result and every
  position up to ``context_length`` is computed; a causal tower stops at the pooled token;
- pooling ``argmax`` (CLIP's end-of-text, the highest id), ``eos`` (first ``eos_id``),
  ``first`` or ``last`` (SigLIP2: the last position, a pad token);
- GELU exact (erf), tanh-approximated (SigLIP2) or QuickGELU; LayerNorm eps;
- a projection matrix, a linear projection with bias (SigLIP2), or none;
- the tokenizer: CLIP's BPE (``ClipTokenizer``) or a HuggingFace ``tokenizer.json``
  (``HFTokenizer``), whose files are kept beside the weights.

The weights are kept as memory-mapped ``.npy`` files (a 256k-word SigLIP2 embedding table
is 786 MB on disk; a query reads only its own rows).
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import platformdirs

from photoplug.model.hf_tokenizer import HFTokenizer, save_compact

FORMAT = 3  # 3: causal/pool/act/projection bias/tokenizer kind in the config; logit bias
CHECK_TEXTS = ["a photo of a dog on the beach", "Café été 写真", "x", "",
               "ein Foto von einem roten Kreis", "赤い円の写真", "Ünïcödé ＦＵＬＬ_width!!",
               "a very long query " * 40]
MIN_COSINE = 0.9999
QUERY_TEXTS = 8  # up to this many texts: one BLAS thread
POOLS = ("argmax", "eos", "first", "last")
ACTS = ("gelu", "gelu_tanh", "quick_gelu")
HF_FILES = ("tokenizer.json", "tokenizer_config.json")


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


def _act(h: np.ndarray, kind: str) -> np.ndarray:
    """The MLP's activation, as torch computes it."""
    if kind == "quick_gelu":
        return h / (1.0 + np.exp(-1.702 * h))
    if kind == "gelu_tanh":  # torch.nn.GELU(approximate='tanh')
        c = np.float32(np.sqrt(2.0 / np.pi))
        return 0.5 * h * (1.0 + np.tanh(c * (h + np.float32(0.044715) * h * h * h)))
    return 0.5 * h * (1.0 + _erf(h / np.float32(np.sqrt(2.0))))


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def model_logit_scale(model: Any) -> float:
    """exp(logit_scale) of an open_clip model: the temperature its softmax (or sigmoid)
    was trained with (100 for OpenAI's CLIP); 100 for a model without one."""
    scale = getattr(model, "logit_scale", None)
    return float(scale.detach().exp().reshape(-1)[0]) if scale is not None else 100.0


def model_logit_bias(model: Any) -> float | None:
    """The learned logit bias of a sigmoid-loss model (SigLIP, SigLIP2), used as is (not
    exponentiated): p(text fits image) = sigmoid(scale * cos + bias); None for a
    softmax-trained model."""
    bias = getattr(model, "logit_bias", None)
    return float(bias.detach().reshape(-1)[0]) if bias is not None else None


class SavedScale:
    """A saved text tower's record of its model's logit scale and bias (``config``)."""

    config: dict[str, Any]

    @property
    def logit_scale(self) -> float:
        """The model's learned logit scale (exp of its ``logit_scale`` parameter)."""
        return float(self.config["logit_scale"])

    @property
    def logit_bias(self) -> float | None:
        """The model's learned logit bias (sigmoid models), or None."""
        return self.config.get("logit_bias")


class TextTower(SavedScale):
    """The text half of an open_clip model as numpy arrays, with its tokenizer."""

    def __init__(self, weights: Mapping[str, np.ndarray], config: dict[str, Any],
                 folder: Path | None = None) -> None:
        self.w = weights
        self.config = config
        self.tokenizer = _tokenizer(config, folder)
        self.tokenizer_files: dict[str, bytes] = {}  # HF files to save beside the weights

    @property
    def dim(self) -> int:
        projection = self.w.get("text_projection")
        return int(projection.shape[1] if projection is not None
                   else self.w["ln_final.weight"].shape[0])

    def pool_index(self, tokens: np.ndarray) -> np.ndarray:
        """The position each row's embedding is read at, as open_clip's text_global_pool."""
        pool = self.config["pool"]
        if pool == "argmax":
            return tokens.argmax(axis=1)
        if pool == "eos":
            return (tokens == self.config["eos_id"]).argmax(axis=1)
        return np.full(len(tokens), 0 if pool == "first" else tokens.shape[1] - 1)

    def encode(self, texts: list[str], chunk: int = 32) -> np.ndarray:
        """L2-normalised embeddings, one row per text. A causal tower encodes texts of
        like length together, each group only as far as its furthest pooled token. A
        query's few texts run on one BLAS thread: its small products lose more to thread
        hand-offs than they gain (54 ms against 0.7 ms measured on a busy 2-core CPU)."""
        from threadpoolctl import threadpool_limits
        tokens = self.tokenizer(texts)
        ends = self.pool_index(tokens)
        order = np.argsort(ends, kind="stable") if self.config["causal"] else \
            np.arange(len(texts))
        out = np.empty((len(texts), self.dim), np.float32)
        with threadpool_limits(1 if len(texts) <= QUERY_TEXTS else None):
            for start in range(0, len(texts), chunk):
                rows = order[start:start + chunk]
                out[rows] = self._encode(tokens[rows], ends[rows])
        return out

    def _encode(self, tokens: np.ndarray, ends: np.ndarray) -> np.ndarray:
        w, cfg = self.w, self.config
        # causal: later positions never reach the pooled one; bidirectional: all do
        length = int(ends.max()) + 1 if cfg["causal"] else tokens.shape[1]
        x = w["token_embedding"][tokens[:, :length]] + w["positional_embedding"][:length]
        batch, width, heads = len(tokens), x.shape[-1], cfg["heads"]
        head_dim = width // heads
        mask = np.triu(np.full((length, length), -np.inf, np.float32), 1) \
            if cfg["causal"] else None
        rows = np.arange(batch)
        for i in range(cfg["layers"]):
            p = f"blocks.{i}."
            last = i == cfg["layers"] - 1  # only the pooled positions go on from here
            h = _layer_norm(x, w[p + "ln_1.weight"], w[p + "ln_1.bias"], cfg["eps"])
            qkv = h @ w[p + "in_proj"] + w[p + "in_proj_bias"]
            q, k, v = (part.reshape(batch, length, heads, head_dim).transpose(0, 2, 1, 3)
                       for part in np.split(qkv, 3, axis=-1))
            if last:
                q = q[rows, :, ends][:, :, None]  # (batch, heads, 1, head_dim)
                x = x[rows, ends][:, None]
            scores = (q / np.float32(np.sqrt(head_dim))) @ k.transpose(0, 1, 3, 2)
            if mask is not None:
                scores = scores + (mask[ends][:, None, None] if last else mask)
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            attended = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, x.shape[1], width)
            x = x + attended @ w[p + "out_proj"] + w[p + "out_proj_bias"]
            h = _layer_norm(x, w[p + "ln_2.weight"], w[p + "ln_2.bias"], cfg["eps"])
            h = _act(h @ w[p + "c_fc"] + w[p + "c_fc_bias"], cfg["act"])
            x = x + h.astype(np.float32) @ w[p + "c_proj"] + w[p + "c_proj_bias"]
        x = _layer_norm(x[:, 0], w["ln_final.weight"], w["ln_final.bias"], cfg["eps"])
        if "text_projection" in w:
            x = x @ w["text_projection"]
            if "text_projection_bias" in w:
                x = x + w["text_projection_bias"]
        out = x.astype(np.float32)
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out

    # -- made from an open_clip model, kept on disk ------------------------------------

    @classmethod
    def from_model(cls, model: Any, tokenizer: Any) -> TextTower | None:
        """A copy of ``model``'s text tower, or None when it is not one this module
        computes exactly (token ids and embeddings checked on sample texts)."""
        import torch
        text = _text_module(model)
        if text is None:
            return None
        config = _tower_config(text)
        if config is None:
            return None
        folder = Path(tempfile.mkdtemp(prefix="photoplug-text-"))
        try:
            tokenizer_config = _tokenizer_config(tokenizer, folder)
            if tokenizer_config is None:
                return None
            config.update(tokenizer=tokenizer_config, logit_scale=model_logit_scale(model),
                          logit_bias=model_logit_bias(model))
            tower = cls(_weights(text), config, folder)
            with torch.inference_mode():
                theirs_ids = tokenizer(CHECK_TEXTS)
                if not np.array_equal(tower.tokenizer(CHECK_TEXTS), theirs_ids.numpy()):
                    return None
                ours = tower.encode(CHECK_TEXTS)
                theirs = model.encode_text(theirs_ids).float().cpu().numpy()
            theirs /= np.linalg.norm(theirs, axis=1, keepdims=True)
            if float((ours * theirs).sum(1).min()) < MIN_COSINE:
                return None
            tower.tokenizer_files = {name: (folder / name).read_bytes()
                                     for name in HF_FILES if (folder / name).exists()}
            return tower
        except (KeyError, ValueError, IndexError, OSError):  # a vocabulary or shape it misfits
            return None
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def save(self, folder: Path) -> None:
        """Write the tower as ``.npy`` files (and the HF tokenizer's files), atomically:
        a half-written copy is never read."""
        tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for name, array in self.w.items():
            np.save(tmp / f"{name}.npy", array)
        for name, data in self.tokenizer_files.items():
            (tmp / name).write_bytes(data)
        if self.tokenizer_files:
            save_compact(tmp, self.config["context_length"], **hf_options(self.config))
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
            if config["tokenizer"]["kind"] == "hf":  # a copy saved before compact forms
                save_compact(folder, config["context_length"], **hf_options(config))
            return cls(weights, config, folder)
        except (OSError, ValueError, KeyError):
            return None


def _tokenizer(config: Mapping[str, Any], folder: Path | None) -> Any:
    """The tokenizer the config names: CLIP's BPE, or the HF files in ``folder``."""
    spec = config["tokenizer"]
    if spec["kind"] == "clip":
        from photoplug.model.clip_tokenizer import ClipTokenizer, open_clip_vocabulary
        return ClipTokenizer(open_clip_vocabulary(), config["context_length"])
    if folder is None:
        raise ValueError("a HuggingFace tokenizer needs its folder")
    return HFTokenizer(folder, config["context_length"], **hf_options(config))


def hf_options(config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``HFTokenizer`` options a saved tower's config records."""
    spec = config["tokenizer"]
    return {"clean": spec["clean"], "strip_sep_token": spec["strip_sep_token"],
            "tokenizer_mode": spec["mode"]}


def _tokenizer_config(tokenizer: Any, folder: Path) -> dict[str, Any] | None:
    """How to rebuild open_clip's ``tokenizer`` without torch (HF files written to
    ``folder``), or None for a tokenizer not reproduced here."""
    from open_clip import tokenizer as oct
    if isinstance(tokenizer, oct.SimpleTokenizer):
        plain = tokenizer.reduction_fn is None and tokenizer.clean_fn is oct._clean_lower
        return {"kind": "clip"} if plain else None
    if isinstance(tokenizer, (oct.HFTokenizer, oct.SigLipTokenizer)):
        cleans = {oct._clean_canonicalize: "canonicalize", oct._clean_lower: "lower",
                  oct._clean_whitespace: "whitespace"}
        clean = cleans.get(getattr(tokenizer, "clean_fn", None), "canonicalize"
                           if isinstance(tokenizer, oct.SigLipTokenizer) else None)
        if clean is None:
            return None
        tokenizer.tokenizer.save_pretrained(str(folder))
        if not (folder / "tokenizer.json").exists():  # a slow (Python) tokenizer only
            return None
        return {"kind": "hf", "clean": clean,
                "strip_sep_token": bool(getattr(tokenizer, "strip_sep_token", False)),
                "mode": getattr(tokenizer, "tokenizer_mode", "") or None}
    return None


def _text_module(model: Any) -> Any:
    """The module holding the text tower's parts: ``CLIP`` keeps them on itself,
    ``CustomTextCLIP`` in ``model.text`` (None for an HF text tower)."""
    import open_clip
    from open_clip.transformer import TextTransformer
    if isinstance(model, open_clip.CLIP):
        return model
    text = getattr(model, "text", None)
    return text if isinstance(text, TextTransformer) else None


def _tower_config(text: Any) -> dict[str, Any] | None:
    """The arithmetic of a plain open_clip text transformer, or None for variants this
    module does not compute (class token, padding mask, layer scale, custom blocks)."""
    import torch
    from open_clip.transformer import QuickGELU
    blocks = getattr(getattr(text, "transformer", None), "resblocks", None)
    pool = getattr(text, "text_pool_type", getattr(text, "pool_type", None))
    if (blocks is None or pool not in POOLS or getattr(text, "cls_emb", None) is not None
            or getattr(text, "use_pad_mask", False)):
        return None
    for b in blocks:
        if not (isinstance(b.ls_1, torch.nn.Identity) and isinstance(b.ls_2, torch.nn.Identity)
                and not hasattr(b, "ln_1_kv") and isinstance(b.attn, torch.nn.MultiheadAttention)
                and b.attn.in_proj_weight is not None and b.attn.in_proj_bias is not None
                and all(isinstance(n, torch.nn.LayerNorm) and n.bias is not None
                        and n.eps == text.ln_final.eps for n in (b.ln_1, b.ln_2))):
            return None
    gelus = {(type(b.mlp.gelu), getattr(b.mlp.gelu, "approximate", None)) for b in blocks}
    if len(gelus) != 1:
        return None
    kind, approximate = gelus.pop()
    act = "quick_gelu" if kind is QuickGELU else {"none": "gelu", "tanh": "gelu_tanh"}.get(
        approximate) if kind is torch.nn.GELU else None
    if act is None:
        return None
    return {"format": FORMAT, "layers": len(blocks), "heads": blocks[0].attn.num_heads,
            "eps": float(text.ln_final.eps), "context_length": int(text.context_length),
            "act": act, "causal": text.attn_mask is not None, "pool": pool,
            "eos_id": int(getattr(text, "text_eos_id", getattr(text, "eos_id", 2)) or 0)}


def _weights(text: Any) -> dict[str, np.ndarray]:
    """The tower's parameters as float32 arrays, matrices laid out for ``x @ W``."""
    import torch

    def arr(t: Any, transpose: bool = False) -> np.ndarray:
        a = t.detach().float().cpu().numpy()
        return np.ascontiguousarray(a.T if transpose else a)

    w = {"token_embedding": arr(text.token_embedding.weight),
         "positional_embedding": arr(text.positional_embedding),
         "ln_final.weight": arr(text.ln_final.weight), "ln_final.bias": arr(text.ln_final.bias)}
    projection = text.text_projection
    if isinstance(projection, torch.nn.Linear):
        w["text_projection"] = arr(projection.weight, True)
        if projection.bias is not None:
            w["text_projection_bias"] = arr(projection.bias)
    elif projection is not None:
        w["text_projection"] = arr(projection)
    for i, b in enumerate(text.transformer.resblocks):
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
    return w
