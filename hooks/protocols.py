"""The contract as typed Protocols: what a model plugin returns, and what a host library
can do. Core depends on these, never on a concrete engine or adapter.

A library is ``Library`` (listed and scanned) plus any of the capabilities below; core
asks ``isinstance(library, Filterable)`` (they are runtime-checkable) before it uses one,
so a third-party adapter that implements only ``Library`` works everywhere that does not
need more: index, search, serve, albums sync.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Sequence, runtime_checkable

if TYPE_CHECKING:  # numpy is not imported to state the contract
    import numpy as np

from photoplug.hooks.types import Library, PhotoText


@runtime_checkable
class Engine(Protocol):
    """What ``photoplug_load_model`` returns: one model's L2-normalised encoders.

    ``identity`` (name, pretrained tag, weights' content hash, dimension) is recorded with
    every vector it makes, so vectors of two models never meet; ``spec`` is what the user
    asked for (``photoplug.model.spec.ModelSpec``)."""

    spec: Any
    identity: Any
    image_size: int  # the short side preprocessing wants; decoding may stop there
    image_backend: str  # what encodes images: torch, openvino, onnx, onnx-int8...

    @property
    def logit_scale(self) -> float:
        """The model's learned temperature: cosine x scale is its logit."""

    @property
    def logit_bias(self) -> float | None:
        """A sigmoid-trained model's (SigLIP) learned bias: sigmoid(scale x cos + bias) is
        the probability that a text fits an image; None for a softmax-trained one."""

    def preprocess(self, image: Any) -> np.ndarray:
        """A decoded PIL image as the model's (3, H, W) float32 input."""

    def encode_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """Preprocessed images (N, 3, H, W) as an (N, dim) normalised array."""

    def encode_images(self, images: Sequence[Any]) -> np.ndarray:
        """PIL images as an (N, dim) normalised array."""

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Texts as an (N, dim) normalised array."""


@runtime_checkable
class TextReader(Protocol):
    """What ``photoplug_read_text`` returns: an OCR engine that reads photos one by one."""

    identity: str  # engine, models and settings, recorded with each photo's text

    def read(self, path: Path) -> PhotoText:
        """The text in the photo at ``path``; a photo that crashes or hangs the engine
        comes back ``failed`` (with the reason), never as an exception."""

    def close(self) -> None:
        """Free what the reader holds (worker processes)."""


@runtime_checkable
class Rooted(Protocol):
    """A library whose photos lie under folders on this machine (the page serves only
    files inside them)."""

    def roots(self) -> list[Path]:
        """The folders its photos lie in (mounted now)."""


@runtime_checkable
class Filterable(Protocol):
    """A library that knows albums, tags, ratings, labels or dates to narrow a search by."""

    def select(self, **filters: Any) -> set[str]:
        """Stable ids matching every filter given (``album``, ``tags``, ``rating``,
        ``color_label``, ``pick_label``, ``since``, ``until``); raise ``LocationError``
        for one it cannot apply."""


@runtime_checkable
class Noted(Protocol):
    """A library with something to tell the user in ``status`` (how photos are
    identified, say)."""

    def notes(self) -> list[str]:
        """One line each."""


@runtime_checkable
class PartlyOffline(Protocol):
    """A library some of whose roots may be unmounted (removable disks, network shares)."""

    def offline_roots(self) -> list[str]:
        """Roots not mounted now (their photos are kept, marked offline)."""


@runtime_checkable
class Corrected(Protocol):
    """A library whose writes photoplug records, so the user's corrections (a photo taken
    out of an album, a keyword removed) are learnt and win. It also implements
    ``photoplug_read_back``."""

    @property
    def ledger_path(self) -> Path:
        """Where photoplug keeps its record of what it wrote here."""


@runtime_checkable
class Rejecting(Protocol):
    """A library that can mark photos rejected (``WritePlan.reject``) and give each its
    earlier mark back on undo; core asks before it plans a reject."""

    @property
    def reject_mark(self) -> str:
        """What the mark is called in this host, for messages ("digiKam's pick label
        Rejected")."""


def roots_of(library: Library) -> list[Path]:
    """The library's folders, or none when it does not say (nothing is served then)."""
    return list(library.roots()) if isinstance(library, Rooted) else []
