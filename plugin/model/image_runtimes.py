"""The image runtimes photoplug can encode with, registered in one table (``RUNTIMES``).

A runtime runs a model's exported image tower (``image_tower.ImageTower``) without
torch. Each lives in a module of its own (``runtime_openvino``, ``runtime_onnx``) that
opens a session; its entry here says what ``--backend`` calls it, what it needs (a
package, CPU units), and whether its vectors are the model's own:

- *exact* runtimes give torch's embeddings (checked against torch when exported); they
  are one model with torch, ``--backend auto`` measures them and picks the fastest
  (their order here breaks a tie), and the index records which made each vector;
- the others (int8, bf16) are faster and near, not equal: chosen by name only, and
  recorded as another model (the pretrained tag gets ``#`` + ``recorded``), so their
  vectors never mix with the exact ones.

Adding a runtime: a module with an ``open_*(name, folder, threads, keep)`` function
returning a ``Runtime``, and one ``RuntimeKind`` line below. Nothing here imports numpy
or a runtime package: ``spec.BACKENDS`` (the CLI's choices) comes from this table.
"""
from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from photoplug.errors import PhotoplugError
from photoplug.model import machine

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class RuntimeKind:
    """One image runtime, as the rest of photoplug sees it."""

    name: str  # what --backend calls it
    package: str  # the Python package it needs (pip's name)
    opener: str  # "module:function" in photoplug.model: (name, folder, threads, keep) -> Runtime
    exact: bool = True  # torch's vectors (checked when exported): the model's own
    record: str = ""  # what the index records (embeddings.backend; for one not exact, the
    # model's tag too) when not ``name``
    aliases: tuple[str, ...] = ()  # older names --backend still takes
    cpu_flags: tuple[str, ...] = ()  # it needs one of these CPU flags (none: any CPU)
    cpu_units: str = ""  # those units, in words, for the refusal

    @property
    def recorded(self) -> str:
        return self.record or self.name


RUNTIMES: dict[str, RuntimeKind] = {kind.name: kind for kind in (
    RuntimeKind("openvino", "openvino", "runtime_openvino:open_f32"),
    RuntimeKind("onnx", "onnxruntime", "runtime_onnx:open_fp32"),
    RuntimeKind("int8", "onnxruntime", "runtime_onnx:open_int8", exact=False,
                record="onnx-int8", aliases=("onnx-int8",)),
    RuntimeKind("bf16", "openvino", "runtime_openvino:open_bf16", exact=False,
                record="openvino-bf16", cpu_flags=("avx512_bf16", "amx_bf16"),
                cpu_units="bf16 units (AVX-512 BF16 or AMX)"),
)}
EXACT = tuple(name for name, kind in RUNTIMES.items() if kind.exact)  # first wins a tie
CHOICES = ("auto", "torch")  # the backends that are not a runtime of this table


class Runtime(Protocol):
    name: str

    def encode(self, pixels: np.ndarray) -> np.ndarray:
        """Image features (not normalised) of a batch of preprocessed pixels."""


def backend_names() -> tuple[str, ...]:
    """Every name ``--backend`` takes."""
    return (*CHOICES, *RUNTIMES, *(a for kind in RUNTIMES.values() for a in kind.aliases))


def kind_of(name: str) -> RuntimeKind | None:
    """The runtime a backend name, an older name or a recorded name stands for."""
    for kind in RUNTIMES.values():
        if name in (kind.name, kind.recorded, *kind.aliases):
            return kind
    return None


def is_exact(backend: str) -> bool:
    """Whether ``backend``'s vectors are the model's own (auto and torch are)."""
    kind = kind_of(backend)
    return backend in CHOICES or (kind is not None and kind.exact)


def normalise(features: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, as float32."""
    import numpy as np
    out = features.astype(np.float32, copy=False)
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return out


def installed(name: str) -> bool:
    """Whether the package runtime ``name`` needs is installed."""
    kind = kind_of(name)
    return kind is not None and importlib.util.find_spec(kind.package) is not None


def cpu_lacks(name: str) -> str | None:
    """What this CPU lacks for runtime ``name``, in words; None when it can run it."""
    kind = kind_of(name)
    if kind is None or not kind.cpu_flags or machine.cpu_flags() & set(kind.cpu_flags):
        return None
    return kind.cpu_units or " or ".join(kind.cpu_flags)


def available(name: str) -> bool:
    """Whether runtime ``name`` can run here (its package installed, its CPU units)."""
    return installed(name) and cpu_lacks(name) is None


def require(name: str) -> None:
    """Raise the one-line error that says why runtime ``name`` cannot run here."""
    kind = kind_of(name)
    if kind is None:
        raise PhotoplugError(f"unknown image runtime '{name}'")
    lacks = cpu_lacks(name)
    if lacks:
        raise PhotoplugError(f"--backend {kind.name} needs a CPU with {lacks}, which this "
                             f"one lacks; use --backend auto")
    if not installed(name):
        raise PhotoplugError(f"the {kind.name} runtime needs {kind.package}: "
                             f"pip install {kind.package}")


def open_runtime(name: str, folder: Path, threads: int, keep: bool = True) -> Runtime:
    """A session of runtime ``name`` over the export in ``folder``, named as the index
    records it; ``keep``: where the runtime can, its compiled copy is kept in the folder."""
    kind = kind_of(name)
    if kind is None:
        raise PhotoplugError(f"unknown image runtime '{name}'")
    module, _, function = kind.opener.partition(":")
    opener = getattr(importlib.import_module(f"photoplug.model.{module}"), function)
    return opener(kind.recorded, folder, threads, keep)
