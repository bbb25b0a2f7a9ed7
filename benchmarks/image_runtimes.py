"""Every runtime that can encode images here, timed on the same batches in one run.

    .venv/bin/python benchmarks/image_runtimes.py --arch ViT-B-32-256

The model is an open_clip architecture with seeded random weights (the real model's
compute) or toy-clip (--arch toy). Its image tower is exported as photoplug exports it
(``image_tower.export``, into a temporary cache); then torch eager fp32, OpenVINO (f32,
and with its default hints), ONNX Runtime fp32, and the int8 candidates (ONNX Runtime's
dynamic int8, OpenVINO running that same int8 graph, and, where ``nncf`` is importable,
OpenVINO's own int8 models) encode the same batch of photos in turns, several rounds:
best and median photos/s, ratio to torch, and the cosine of each to torch. Last, the
fp32 ceiling: the tower's floating-point work per image (counted from a ViT's shape) against
what this CPU's fastest fp32 matrix product reaches (torch.mm on the tower's own MLP
shape, the bulk of its work), so the photos/s no exact runtime can pass here.
"""
from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from index_and_search import TOY_CLIP, make_photos, random_arch_folder  # noqa: E402

from photoplug.model import machine  # noqa: E402

Encoder = Callable[[np.ndarray], np.ndarray]


def openvino(path: Path, hints: dict[str, object]) -> Encoder:
    import openvino as ov
    request = ov.Core().compile_model(str(path), "CPU", {
        "INFERENCE_NUM_THREADS": machine.cpu_count(), **hints}).create_infer_request()
    return lambda pixels: np.array(request.infer({0: pixels})[0])


def fp32_ceiling(visual: torch.nn.Module, images: int, rounds: int = 20
                 ) -> tuple[float, float]:
    """(GFLOP an image for open_clip's ViT ``visual``, counted from its shape: patch
    embedding, the blocks' projections, MLPs and attention, the output projection; and
    GFLOP/s of torch.mm here on the shape of its MLP for ``images`` images)."""
    blocks = visual.transformer
    width, mlp = blocks.width, blocks.resblocks[0].mlp.c_fc.out_features
    patch, grid = visual.patch_size[0], visual.image_size[0] // visual.patch_size[0]
    tokens = grid * grid + 1  # the patches and the class token
    per_image = 2 * (grid * grid * 3 * patch * patch * width
                     + blocks.layers * (tokens * (4 * width * width + 2 * width * mlp)
                                        + 2 * tokens * tokens * width)
                     + width * visual.output_dim) / 1e9
    a, b = torch.rand(images * tokens, width), torch.rand(width, mlp)
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return per_image, 2 * images * tokens * width * mlp / best / 1e9


def nncf_int8(onnx: Path, pixels: np.ndarray, folder: Path) -> dict[str, Path]:
    """OpenVINO's own int8 models: weights only, and fully quantised (calibrated on the
    batch itself)."""
    import nncf
    import openvino as ov
    core = ov.Core()
    weights = folder / "ov-int8-weights.xml"
    ov.save_model(nncf.compress_weights(core.read_model(onnx)), weights)
    full = folder / "ov-int8-ptq.xml"
    ov.save_model(nncf.quantize(core.read_model(onnx), nncf.Dataset(list(pixels[:, None])),
                                model_type=nncf.ModelType.TRANSFORMER,
                                subset_size=len(pixels)), full)
    return {"openvino int8 (nncf weights)": weights, "openvino int8 (nncf ptq)": full}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", default="ViT-B-32-256", help="open_clip architecture, or 'toy'")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="photoplug-bench-") as tmp:
        tmp = Path(tmp)
        os.environ["XDG_CACHE_HOME"] = str(tmp / "cache")  # a private export cache
        from PIL import Image

        from photoplug.model.engine import load_engine
        from photoplug.model.image_runtimes import INT8
        from photoplug.model.image_tower import ImageTower, export, min_cosine
        from photoplug.model.spec import ModelSpec
        model = f"local-dir:{TOY_CLIP}" if args.arch == "toy" else \
            random_arch_folder(args.arch, tmp / "model")
        engine = load_engine(ModelSpec.build(model, None, None, "torch"), "cpu")
        start = time.perf_counter()
        tower = export(engine.model.visual, engine.model.visual.preprocess_cfg,
                       engine.identity.weights_hash)
        exported = time.perf_counter() - start
        onnx = tower.folder / "visual.onnx"
        paths = make_photos(tmp / "photos", args.batch, (800, 600))
        pixels = np.stack([engine.preprocess(Image.open(p).convert("RGB")) for p in paths])
        print(machine.describe())
        print(f"model {args.arch}, batches of {args.batch}, {machine.cpu_count()} threads; "
              f"export {exported:.1f} s")

        encoders: dict[str, Encoder] = {"torch eager fp32": engine.encode_pixels}
        if importlib.util.find_spec("openvino"):
            encoders["openvino f32"] = openvino(onnx, {"INFERENCE_PRECISION_HINT": "f32",
                                                       "PERFORMANCE_HINT": "LATENCY"})
            encoders["openvino default hints"] = openvino(onnx, {})
        if importlib.util.find_spec("onnxruntime"):
            encoders["onnx runtime fp32"] = ImageTower.load(
                engine.identity.weights_hash).open("onnx").encode
            start = time.perf_counter()
            int8 = tower.open(INT8)
            print(f"int8 quantisation {time.perf_counter() - start:.1f} s")
            encoders["onnx runtime int8"] = int8.encode
            if importlib.util.find_spec("openvino"):
                encoders["openvino on that int8 graph"] = openvino(
                    tower.folder / "visual-int8.onnx", {})
        if importlib.util.find_spec("nncf"):
            for name, path in nncf_int8(onnx, pixels, tmp).items():
                encoders[name] = openvino(path, {})

        reference = engine.encode_pixels(pixels)
        times: dict[str, list[float]] = {name: [] for name in encoders}
        cosines = {name: min_cosine(encode(pixels), reference)  # also warms up
                   for name, encode in encoders.items()}
        for _ in range(args.rounds):
            for name, encode in encoders.items():
                start = time.perf_counter()
                encode(pixels)
                times[name].append(time.perf_counter() - start)
        base = len(pixels) / min(times["torch eager fp32"])
        print(f"{'':30} {'best':>7} {'median':>7} photos/s   vs torch   min cosine to torch")
        for name, seconds in times.items():
            best = len(pixels) / min(seconds)
            print(f"{name:30} {best:7.1f} {len(pixels) / statistics.median(seconds):7.1f}"
                  f"            {best / base:5.2f}x   {cosines[name]:.6f}")
        assert all(np.isfinite(list(cosines.values())))
        if not hasattr(engine.model.visual, "patch_size"):
            return  # the ceiling is worked out for ViTs only
        per_image, gemm = fp32_ceiling(engine.model.visual, len(pixels))
        exact = max(len(pixels) / min(t) for n, t in times.items() if "int8" not in n)
        print(f"\nfp32 ceiling: the tower is {per_image:.2f} GFLOP an image; torch.mm on its "
              f"MLP's shape reaches {gemm:.0f} GFLOP/s here, so no exact runtime passes "
              f"{gemm / per_image:.1f} photos/s; the fastest exact one runs at "
              f"{exact * per_image:.0f} GFLOP/s, {exact * per_image / gemm:.0%} of it")


if __name__ == "__main__":
    torch.set_num_threads(machine.cpu_count())
    main()
