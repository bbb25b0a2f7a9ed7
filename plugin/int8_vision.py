"""The image tower through ONNX Runtime with int8 weights: the ``onnx-int8`` backend.

The model's image tower is exported to ONNX once, its linear layers quantised to int8
(dynamic quantisation: int8 weights, activations quantised per batch), and the result
cached beside the text tower, keyed by the weights' content hash. On a CPU with VNNI
this runs ViT-B-32 about 2.6x faster than torch eager fp32, with embeddings at cosine
>= 0.999 of fp32 (``benchmarks/int8_vs_fp32.py``). The index records the backend with
the model (``openai#onnx-int8``), so its vectors never mix with fp32 ones.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import platformdirs

from photoplug.errors import PhotoplugError

BACKEND = "onnx-int8"


def cache_path(weights_hash: str) -> Path:
    return Path(platformdirs.user_cache_dir("photoplug")) / "onnx" / \
        f"{weights_hash}-visual-int8.onnx"


def _export(visual: Any, image_size: int, target: Path) -> None:
    """The image tower as ONNX (dynamic batch), quantised to int8, written atomically."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        fp32 = Path(tmp) / "visual.onnx"
        example = torch.zeros(2, 3, image_size, image_size)
        # traced outside inference mode: there attention takes a fused kernel ONNX lacks
        torch.onnx.export(visual, (example,), str(fp32), dynamo=False,
                          input_names=["pixels"], output_names=["features"],
                          dynamic_axes={"pixels": {0: "batch"}, "features": {0: "batch"}},
                          opset_version=17)
        quantised = Path(tmp) / "visual-int8.onnx"
        quantize_dynamic(str(fp32), str(quantised), weight_type=QuantType.QInt8)
        os.replace(quantised, target)


class Int8Vision:
    """An ONNX Runtime session over the int8 image tower."""

    def __init__(self, visual: Any, image_size: int, weights_hash: str) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise PhotoplugError("--backend onnx-int8 needs ONNX Runtime: "
                                 "pip install 'photoplug[int8]'") from None
        path = cache_path(weights_hash)
        if not path.exists():
            try:
                _export(visual.cpu().eval(), image_size, path)
            except Exception as exc:  # an architecture the exporter cannot take
                raise PhotoplugError(f"could not make the int8 image model: {exc}") from exc
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, os.cpu_count() or 1)
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), options,
                                            providers=["CPUExecutionProvider"])

    def encode(self, pixels: np.ndarray) -> np.ndarray:
        """Image features (not normalised) for a batch of preprocessed pixels."""
        return self.session.run(None, {"pixels": np.ascontiguousarray(pixels, np.float32)})[0]
