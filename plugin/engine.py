"""The CLIP engine: an open_clip model, its preprocessing and batched encoders.

Importing this module imports torch; the CLI imports it only for commands that need it.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import open_clip
import torch
from PIL import Image

from photoplug.errors import PhotoplugError
from photoplug.weights import ModelSpec, file_digest, find_checkpoint, hub_offline, network_allowed

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


@dataclass(frozen=True)
class ModelIdentity:
    """What the index records about the model that made an embedding."""

    name: str
    pretrained: str
    weights_hash: str
    dim: int


class Engine:
    """A loaded open_clip model with L2-normalised image and text encoders."""

    def __init__(self, spec: ModelSpec, model: Any, preprocess: Any, tokenizer: Any,
                 weights_hash: str, device: str) -> None:
        self.spec = spec
        self.model = model
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.device = device
        size = model.visual.image_size
        self.image_size = int(size[0] if isinstance(size, (tuple, list)) else size)
        with torch.inference_mode():
            dim = model.encode_text(tokenizer(["x"]).to(device)).shape[-1]
        self.identity = ModelIdentity(spec.name, spec.recorded_pretrained, weights_hash, int(dim))

    @torch.inference_mode()
    def encode_pixels(self, pixels: torch.Tensor) -> np.ndarray:
        """Encode a batch of preprocessed image tensors (N, 3, H, W)."""
        features = self.model.encode_image(pixels.to(self.device))
        return _normalise(features)

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Preprocess and encode PIL images; one row per image."""
        return self.encode_pixels(torch.stack([self.preprocess(im) for im in images]))

    @torch.inference_mode()
    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Encode text queries; one row per text."""
        tokens = self.tokenizer(list(texts)).to(self.device)
        return _normalise(self.model.encode_text(tokens))


def _normalise(features: torch.Tensor) -> np.ndarray:
    out = features.float().cpu().numpy()
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return out


def load_engine(spec: ModelSpec, device: str = "auto") -> Engine:
    """Load ``spec`` through open_clip, the way a user's own open_clip code would."""
    checkpoint = find_checkpoint(spec, download=network_allowed())
    device = pick_device(device)
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
    return Engine(spec, model, preprocess, tokenizer, file_digest(checkpoint), device)
