"""ONNX Runtime (CPU) over an exported image tower: the fp32 export itself (``onnx``,
exact), or its int8 copy (``int8``: dynamic quantisation, made once from the export; on
a CPU without VNNI measured faster than OpenVINO on that graph or on OpenVINO's own int8
models: ``benchmarks/image_runtimes.py``)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np


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


def open_fp32(name: str, folder: Path, threads: int, keep: bool) -> OnnxRuntime:
    return OnnxRuntime(name, folder / "visual.onnx", threads)


def open_int8(name: str, folder: Path, threads: int, keep: bool) -> OnnxRuntime:
    """The int8 copy (int8 weights, activations quantised per batch), made once."""
    target = folder / "visual-int8.onnx"
    if not target.exists():
        from onnxruntime.quantization import QuantType, quantize_dynamic
        tmp = folder / f".visual-int8.{os.getpid()}.onnx"
        quantize_dynamic(str(folder / "visual.onnx"), str(tmp), weight_type=QuantType.QInt8)
        os.replace(tmp, target)
    return OnnxRuntime(name, target, threads)
