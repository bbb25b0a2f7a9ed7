"""The engine a text search runs on when the model's text tower is kept on disk: numpy
only, so a search never waits for torch; the full model is loaded (once) only when
something needs it, such as an image in the query."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from photoplug.text_tower import TextTower
from photoplug.weights import ModelIdentity, ModelSpec


class TextEngine:
    """The ``Engine`` interface over a saved text tower and a loader for the rest."""

    def __init__(self, spec: ModelSpec, identity: ModelIdentity, tower: TextTower,
                 load_full: Callable[[], Any]) -> None:
        self.spec = spec
        self.identity = identity
        self.tower = tower
        self._load_full = load_full

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self.tower.encode(list(texts))

    @property
    def image_size(self) -> int:
        return self._load_full().image_size

    def encode_images(self, images: Sequence[Any]) -> np.ndarray:
        return self._load_full().encode_images(images)
