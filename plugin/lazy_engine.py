"""An engine for a model the index already knows, loaded only as far as the work needs.

Its identity comes from the index, text goes through the saved numpy text tower when
there is one, and the full open_clip model (torch) is loaded the first time something
needs it: an image to encode, or a text when no tower was saved. So a text search, or a
re-index that finds nothing new, never waits for torch.
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Sequence

import numpy as np

from photoplug.errors import PhotoplugError
from photoplug.text_tower import TextTower
from photoplug.weights import ModelIdentity, ModelSpec


class LazyEngine:
    """The ``Engine`` interface over a known identity, a saved tower and a loader."""

    def __init__(self, spec: ModelSpec, identity: ModelIdentity, tower: TextTower | None,
                 load_full: Callable[[], Any]) -> None:
        self.spec = spec
        self.identity = identity
        self.tower = tower
        self._load_full = load_full
        self._lock = threading.Lock()  # decoding threads may all ask for the model at once

    def full(self) -> Any:
        """The full engine; it must be the model this engine stood for."""
        with self._lock:
            engine = self._load_full()
        if engine.identity != self.identity:
            raise PhotoplugError(f"the weights of {self.spec.label} changed while photoplug "
                                 f"was running; run the command again")
        return engine

    def text_tower(self) -> TextTower | None:
        return self.tower or self.full().text_tower()

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self.tower.encode(list(texts)) if self.tower else \
            self.full().encode_texts(texts)

    @property
    def logit_scale(self) -> float:
        return self.tower.logit_scale if self.tower else self.full().logit_scale

    @property
    def image_size(self) -> int:
        return self.full().image_size

    def preprocess(self, image: Any) -> Any:
        return self.full().preprocess(image)

    def encode_images(self, images: Sequence[Any]) -> np.ndarray:
        return self.full().encode_images(images)

    def encode_pixels(self, pixels: Any) -> np.ndarray:
        return self.full().encode_pixels(pixels)
