"""The CLIP engine: an open_clip model, its preprocessing and batched encoders.

Importing this module imports torch; the CLI imports it only for commands that need it.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Sequence

import numpy as np
import open_clip
import torch
from PIL import Image

from photoplug.errors import PhotoplugError
from photoplug.int8_vision import BACKEND, Int8Vision
from photoplug.text_tower import TextTower, cache_folder, model_logit_scale
from photoplug.weights import (ModelIdentity, ModelSpec, file_digest, find_checkpoint,
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
                 weights_hash: str, device: str, vision: Any = None) -> None:
        self.spec = spec
        self.model = model
        self.vision = vision  # the onnx-int8 image tower, when that backend was asked for
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.device = device
        size = model.visual.image_size
        self.image_size = int(size[0] if isinstance(size, (tuple, list)) else size)
        with torch.inference_mode():
            dim = model.encode_text(tokenizer(["x"]).to(device)).shape[-1]
        self.identity = ModelIdentity(spec.name, spec.recorded_pretrained, weights_hash, int(dim))
        self.logit_scale = model_logit_scale(model)
        self._tower: TextTower | None | bool = False  # False: not made yet

    def text_tower(self) -> TextTower | None:
        """The numpy copy of the text tower (kept on disk for torch-free searches), or None
        for a model it cannot copy exactly; made once."""
        if self._tower is False:
            folder = cache_folder(self.identity.weights_hash)
            self._tower = TextTower.load(folder) or TextTower.from_model(self.model,
                                                                         self.tokenizer)
            if self._tower is not None and not folder.exists():
                try:
                    self._tower.save(folder)
                except OSError:
                    pass  # a read-only cache only costs the next search its torch import
        return self._tower

    @torch.inference_mode()
    def encode_pixels(self, pixels: torch.Tensor) -> np.ndarray:
        """Encode a batch of preprocessed image tensors (N, 3, H, W)."""
        if self.vision is not None:
            return _normalise(self.vision.encode(pixels.numpy()))
        features = self.model.encode_image(pixels.to(self.device))
        return _normalise(features.float().cpu().numpy())

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Preprocess and encode PIL images; one row per image."""
        return self.encode_pixels(torch.stack([self.preprocess(im) for im in images]))

    @torch.inference_mode()
    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Encode text queries; one row per text (over real tokens only, where the text
        tower has a numpy copy)."""
        tower = self.text_tower()
        if tower is not None:
            return tower.encode(list(texts))
        tokens = self.tokenizer(list(texts)).to(self.device)
        return _normalise(self.model.encode_text(tokens).float().cpu().numpy())


def _normalise(features: np.ndarray) -> np.ndarray:
    out = features.astype(np.float32, copy=False)
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return out


def load_engine(spec: ModelSpec, device: str = "auto") -> Engine:
    """Load ``spec`` through open_clip, the way a user's own open_clip code would."""
    checkpoint = find_checkpoint(spec, download=network_allowed())
    device = "cpu" if spec.backend == BACKEND and device == "auto" else pick_device(device)
    logging.getLogger().setLevel(max(logging.getLogger().level, logging.ERROR))
    if spec.weights:
        pretrained: str | None = spec.weights
    else:
        pretrained = spec.pretrained
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    try:
        with hub_offline(True):  # find_checkpoint already put everything in the cache
            model, _, preprocess = open_clip.create_model_and_transforms(
                spec.name, pretrained=pretrained, device=device, require_pretrained=True)
            tokenizer = open_clip.get_tokenizer(spec.name)
    except Exception as exc:
        raise PhotoplugError(f"could not load {spec.label}: {exc}") from exc
    model.eval()
    weights_hash = file_digest(checkpoint)
    vision = None
    if spec.backend == BACKEND:
        if device != "cpu":
            raise PhotoplugError(f"--backend {BACKEND} runs on the CPU; use --device cpu")
        size = model.visual.image_size
        vision = Int8Vision(model.visual, int(size[0] if isinstance(size, (tuple, list))
                                              else size), weights_hash)
    return Engine(spec, model, preprocess, tokenizer, weights_hash, device, vision)
