"""The runtimes an exported image tower runs on, none of which needs torch.

``openvino`` (OpenVINO, f32 inference) and ``onnx`` (ONNX Runtime) run the fp32 ONNX
export and give torch's embeddings (checked when exported); ``onnx-int8`` runs its
int8-quantised copy through ONNX Runtime (on a CPU without VNNI measured faster than
OpenVINO on that graph or on OpenVINO's own int8 models: ``benchmarks/image_runtimes.py``).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Protocol

import numpy as np

from photoplug.errors import PhotoplugError

EXACT = ("openvino", "onnx")  # a tie goes to the first (see image_tower.TIE)
INT8 = "onnx-int8"
_PACKAGES = {"openvino": "openvino", "onnx": "onnxruntime", INT8: "onnxruntime"}


class Runtime(Protocol):
    name: str

    def encode(self, pixels: np.ndarray) -> np.ndarray:
        """Image features (not normalised) of a batch of preprocessed pixels."""


def normalise(features: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, as float32."""
    out = features.astype(np.float32, copy=False)
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return out


def installed(name: str) -> bool:
    return importlib.util.find_spec(_PACKAGES[name]) is not None


def require(name: str) -> None:
    """Raise the one-line error that says how to install a missing runtime."""
    if not installed(name):
        raise PhotoplugError(f"the {name} runtime needs {_PACKAGES[name]}: "
                             f"pip install {_PACKAGES[name]}")


class OnnxRuntime:
    """An ONNX Runtime CPU session."""

    def __init__(self, name: str, model: Path, threads: int) -> None:
        import onnxruntime as ort
        self.name = name
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(model), options,
                                            providers=["CPUExecutionProvider"])

    def encode(self, pixels: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"pixels": np.ascontiguousarray(pixels, np.float32)})[0]


class OpenVino:
    """An OpenVINO CPU model compiled for f32 inference (its default may be lower precision
    on CPUs with bf16 or fp16 units), one stream. With ``cache`` the compiled model is kept
    there (written the first time): it then loads in 0.3 s instead of 1.5 (ViT-B-32)."""

    def __init__(self, model: Path, threads: int, cache: Path | None = None) -> None:
        import openvino as ov
        self.name = "openvino"
        config: dict[str, object] = {"INFERENCE_PRECISION_HINT": "f32",
                                     "PERFORMANCE_HINT": "LATENCY",
                                     "INFERENCE_NUM_THREADS": threads}
        if cache is not None:
            config["CACHE_DIR"] = str(cache)
        self.request = ov.Core().compile_model(str(model), "CPU", config).create_infer_request()

    def encode(self, pixels: np.ndarray) -> np.ndarray:
        result = self.request.infer({0: np.ascontiguousarray(pixels, np.float32)})
        return np.array(result[0])  # the request reuses its output buffer
