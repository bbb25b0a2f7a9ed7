"""An engine for a model known without loading it, loaded only as far as the work needs.

Its identity comes from the index (or the model's exported image tower), text goes
through the saved text tower when there is one (the numpy copy, or a HuggingFace
tower's ONNX export), images through the exported image tower when the backend can run
without torch (``ImageTower.torch_free``), and the full open_clip model (torch) is loaded
the first time something else is needed. So a text search, a re-index that finds nothing
new, and (once the image tower is exported) an index that encodes new photos never wait
for torch.
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Sequence

import numpy as np

from photoplug.errors import PhotoplugError
from photoplug.model.image_runtimes import Runtime, normalise
from photoplug.model.image_tower import ImageTower
from photoplug.model.text_export import OnnxTextTower, TextTowerBroken
from photoplug.model.text_tower import TextTower
from photoplug.model.spec import ModelIdentity, ModelSpec


class LazyEngine:
    """The ``Engine`` interface over a known identity, saved towers and a loader.

    ``image`` and ``runtime`` (given together) encode images without torch."""

    def __init__(self, spec: ModelSpec, identity: ModelIdentity,
                 tower: TextTower | OnnxTextTower | None,
                 load_full: Callable[[], Any], image: ImageTower | None = None,
                 runtime: str | None = None) -> None:
        self.spec = spec
        self.identity = identity
        self.tower = tower
        self.image = image if runtime else None
        self._runtime_name = runtime
        self._load_full = load_full
        self._lock = threading.Lock()  # decoding threads may all ask for the model at once
        self._session: Runtime | None = None

    def full(self) -> Any:
        """The full engine; it must be the model this engine stood for."""
        with self._lock:
            engine = self._load_full()
        if engine.identity != self.identity:
            raise PhotoplugError(f"the weights of {self.spec.label} changed while photoplug "
                                 f"was running; run the command again")
        return engine

    def text_tower(self) -> TextTower | OnnxTextTower | None:
        return self.tower or self.full().text_tower()

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Through the saved tower; when its ONNX export turns out damaged, the full
        model takes over (and exports it again, saying so in one line)."""
        if self.tower:
            try:
                return self.tower.encode(list(texts))
            except TextTowerBroken:
                self.tower = None
        return self.full().encode_texts(texts)

    @property
    def logit_scale(self) -> float:
        return self.tower.logit_scale if self.tower else self.full().logit_scale

    @property
    def logit_bias(self) -> float | None:
        """A sigmoid model's learned bias: p(text fits) = sigmoid(scale x cos + bias)."""
        return self.tower.logit_bias if self.tower else self.full().logit_bias

    @property
    def image_backend(self) -> str:
        """The runtime that encodes images (the full engine's, when it does)."""
        return self._runtime_name if self.image else self.full().image_backend

    @property
    def image_size(self) -> int:
        return self.image.preprocess.min_side if self.image else self.full().image_size

    def preprocess(self, image: Any) -> np.ndarray:
        return self.image.preprocess(image) if self.image else self.full().preprocess(image)

    def encode_images(self, images: Sequence[Any]) -> np.ndarray:
        return self.encode_pixels(np.stack([self.preprocess(im) for im in images]))

    def encode_pixels(self, pixels: np.ndarray) -> np.ndarray:
        return normalise(self._runtime().encode(pixels)) if self.image else \
            self.full().encode_pixels(pixels)

    def prepare(self) -> None:
        """Open the image runtime now, before decoding threads compete with it for the
        cores (alone it loads faster); the indexer calls this when it has photos to read."""
        if self.image:
            self._runtime()

    def _runtime(self) -> Runtime:
        """The image runtime's session, opened on first use."""
        with self._lock:
            if self._session is None:
                try:
                    self._session = self.image.open(self._runtime_name)  # type: ignore
                except Exception as exc:  # a damaged export: say where it is
                    raise PhotoplugError(
                        f"could not open the exported image model in {self.image.folder} "
                        f"({exc}); delete that folder to export it again") from exc
        return self._session
