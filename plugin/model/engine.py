"""The CLIP engine: an open_clip model, its preprocessing and batched encoders.

Images are encoded by the runtime the backend names (``image_tower.runtime_for``: on the
CPU by default the fastest exact one measured here), or by torch. Importing this module
imports torch; the CLI imports it only for commands that need it.
"""
from __future__ import annotations

import functools
import logging
from typing import Any, Sequence

import numpy as np
import open_clip
import torch
from PIL import Image

from photoplug.model import machine
from photoplug.errors import PhotoplugError
from photoplug.model.image_runtimes import CHOICES, Runtime, normalise, require
from photoplug.model.image_tower import runtime_for
from photoplug.model.preprocess import Preprocess
from photoplug.model.text_tower import (TextTower, cache_folder, model_logit_bias,
                                        model_logit_scale)
from photoplug.model.text_export import OnnxTextTower, load_or_export
from photoplug.model.spec import (ModelIdentity, ModelSpec, file_digest, find_checkpoint,
                               hub_offline, network_allowed)

def pick_device(device: str) -> str:
    """Resolve ``auto`` to the best available device; refuse one that is not there."""
    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise PhotoplugError("--device cuda: no CUDA device is available here")
    if device == "mps" and not (getattr(torch.backends, "mps", None)
                                and torch.backends.mps.is_available()):
        raise PhotoplugError("--device mps: no Apple GPU (MPS) is available here")
    return device


class Engine:
    """A loaded open_clip model with L2-normalised image and text encoders."""

    def __init__(self, spec: ModelSpec, model: Any, preprocess: Any, tokenizer: Any,
                 weights_hash: str, device: str, runtime: Runtime | None = None) -> None:
        self.spec = spec
        self.model = model
        self.runtime = runtime  # what encodes images, when not torch
        self.image_backend = runtime.name if runtime else "torch"
        self.preprocess = preprocess  # PIL image -> float32 (3, H, W) array
        self.tokenizer = tokenizer
        self.device = device
        self.image_size = preprocess.min_side
        with torch.inference_mode():
            dim = model.encode_text(tokenizer(["x"]).to(device)).shape[-1]
        self.identity = ModelIdentity(spec.name, spec.recorded_pretrained, weights_hash, int(dim))
        self.logit_scale = model_logit_scale(model)
        self.logit_bias = model_logit_bias(model)  # a sigmoid model's; None for softmax
        self._tower: TextTower | OnnxTextTower | None | bool = False  # False: not yet

    def text_tower(self) -> TextTower | OnnxTextTower | None:
        """The torch-free text tower, made once and kept on disk for searches without
        torch: the numpy copy, else (a HuggingFace text tower) the checked ONNX export;
        None for a model neither reproduces exactly."""
        if self._tower is False:
            folder = cache_folder(self.identity.weights_hash)
            tower: TextTower | OnnxTextTower | None = TextTower.load(folder) or \
                TextTower.from_model(self.model, self.tokenizer)
            if tower is not None and not folder.exists():
                try:
                    tower.save(folder)
                except OSError:
                    pass  # a read-only cache only costs the next search its torch import
            if tower is None:
                tower = load_or_export(self.model, self.tokenizer, self.identity.weights_hash)
            self._tower = tower
        return self._tower

    def encode_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """Encode a batch of preprocessed images (N, 3, H, W)."""
        if self.runtime is not None:
            return normalise(self.runtime.encode(pixels))
        return normalise(torch_features(self.model, self.device, pixels))

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Preprocess and encode PIL images; one row per image."""
        return self.encode_pixels(np.stack([self.preprocess(im) for im in images]))

    @torch.inference_mode()
    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Encode text queries; one row per text (over real tokens only, where the text
        tower has a numpy copy)."""
        tower = self.text_tower()
        if tower is not None:
            return tower.encode(list(texts))
        tokens = self.tokenizer(list(texts)).to(self.device)
        return normalise(self.model.encode_text(tokens).float().cpu().numpy())


@torch.inference_mode()
def torch_features(model: Any, device: str, pixels: np.ndarray) -> np.ndarray:
    """Image features (not normalised) from torch itself."""
    features = model.encode_image(torch.from_numpy(pixels).to(device))
    return features.float().cpu().numpy()


def load_engine(spec: ModelSpec, device: str = "auto") -> Engine:
    """Load ``spec`` through open_clip, the way a user's own open_clip code would."""
    on_cpu_only = spec.backend not in CHOICES
    if on_cpu_only:
        require(spec.backend)  # a missing package or CPU units: said before loading anything
    checkpoint = find_checkpoint(spec, download=network_allowed())
    if on_cpu_only and device not in ("auto", "cpu"):
        raise PhotoplugError(f"--backend {spec.backend} runs on the CPU; use --device cpu")
    device = "cpu" if on_cpu_only else pick_device(device)
    logging.getLogger().setLevel(max(logging.getLogger().level, logging.ERROR))
    if spec.weights:
        pretrained: str | None = spec.weights
    else:
        pretrained = spec.pretrained
    torch.set_num_threads(machine.cpu_count())
    try:
        with hub_offline(True):  # find_checkpoint already put everything in the cache
            model, _, open_clip_preprocess = open_clip.create_model_and_transforms(
                spec.name, pretrained=pretrained, device=device, require_pretrained=True)
            tokenizer = open_clip.get_tokenizer(spec.name)
    except Exception as exc:
        raise PhotoplugError(f"could not load {spec.label}: {exc}") from exc
    model.eval()
    weights_hash = file_digest(checkpoint)
    preprocess_cfg = getattr(model.visual, "preprocess_cfg", {})
    try:
        preprocess: Any = Preprocess.from_config(preprocess_cfg)
    except (KeyError, ValueError):  # a transform only open_clip's own code does
        preprocess = _TorchPreprocess(open_clip_preprocess, model)
    runtime = None
    if device == "cpu" and spec.backend != "torch":
        runtime = runtime_for(model.visual, preprocess_cfg, weights_hash, spec.backend,
                              functools.partial(torch_features, model, device))
    return Engine(spec, model, preprocess, tokenizer, weights_hash, device, runtime)


class _TorchPreprocess:
    """open_clip's own transform, as arrays, for a model whose transform is not reproduced."""

    def __init__(self, transform: Any, model: Any) -> None:
        self.transform = transform
        size = model.visual.image_size
        self.min_side = int(max(size) if isinstance(size, (tuple, list)) else size)

    def __call__(self, image: Image.Image) -> np.ndarray:
        return self.transform(image).numpy()
