"""Every runtime that can encode images here, timed on the same batches in one run.

    .venv/bin/python benchmarks/image_runtimes.py --arch ViT-B-32-256

The model is an open_clip architecture with seeded random weights (the real model's
compute) or toy-clip (--arch toy). Its image tower is exported as photoplug exports it
(``image_tower.export``, into a temporary cache); then torch eager fp32, every runtime of
photoplug's table (``image_runtimes.RUNTIMES``) this machine can run (OpenVINO f32, ONNX
Runtime fp32, int8, and bf16 where the CPU has bf16 units), and for comparison OpenVINO
with its default hints (bf16 where the CPU has it), OpenVINO on the int8 graph and,
where ``nncf`` is importable, OpenVINO's own int8 models, encode the same batch of
photos in turns, several rounds: best and median photos/s, the median's ratio to torch,
and the cosine of each to torch (what follows uses the medians). Exact is what passes photoplug's export check (cosine
``image_tower.MIN_COSINE``), whatever its name. Last, the ceiling at full precision: the
tower's floating-point work per image (counted from a ViT's shape) at the rate of the
fastest exact runtime, its own arithmetic throughput; and the non-exact runtimes
photoplug offers (int8, bf16) against it.
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
from index_and_search import TOY_CLIP, make_photos  # noqa: E402
from random_models import model_folder  # noqa: E402

from photoplug.model import machine  # noqa: E402

Encoder = Callable[[np.ndarray], np.ndarray]


def openvino(path: Path, hints: dict[str, object]) -> Encoder:
    import openvino as ov
    request = ov.Core().compile_model(str(path), "CPU", {
        "INFERENCE_NUM_THREADS": machine.cpu_count(), **hints}).create_infer_request()
    return lambda pixels: np.array(request.infer({0: pixels})[0])


def gflop_per_image(visual: torch.nn.Module) -> float:
    """GFLOP an image for open_clip's ViT ``visual``, counted from its shape: patch
    embedding, the blocks' projections, MLPs and attention, the output projection."""
    blocks = visual.transformer
    width, mlp = blocks.width, blocks.resblocks[0].mlp.c_fc.out_features
    patch, grid = visual.patch_size[0], visual.image_size[0] // visual.patch_size[0]
    tokens = grid * grid + 1  # the patches and the class token
    return 2 * (grid * grid * 3 * patch * patch * width
                + blocks.layers * (tokens * (4 * width * width + 2 * width * mlp)
                                   + 2 * tokens * tokens * width)
                + width * visual.output_dim) / 1e9


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
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="photoplug-bench-") as tmp:
        tmp = Path(tmp)
        os.environ["XDG_CACHE_HOME"] = str(tmp / "cache")  # a private export cache
        from PIL import Image

        from photoplug.model.engine import load_engine
        from photoplug.model.image_runtimes import RUNTIMES, available, cpu_lacks
        from photoplug.model.image_tower import MIN_COSINE, export, min_cosine
        from photoplug.model.spec import ModelSpec
        model = f"local-dir:{TOY_CLIP}" if args.arch == "toy" else \
            model_folder(args.arch, tmp / "model")
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
        offered: dict[str, str] = {}  # runtime -> the label it is measured under
        for name, kind in RUNTIMES.items():  # photoplug's own, as it opens them
            if not available(name):
                lacks = cpu_lacks(name)
                why = f"this CPU has no {lacks}" if lacks else f"{kind.package} is missing"
                print(f"{name}: not measured ({why})")
                continue
            start = time.perf_counter()
            label = f"{name} (--backend {name})"
            encoders[label] = tower.open(name, keep=False).encode
            offered[name] = label
            if name == "int8":
                print(f"int8 quantisation and session {time.perf_counter() - start:.1f} s")
        if importlib.util.find_spec("openvino"):
            encoders["openvino default hints"] = openvino(onnx, {})
            if (tower.folder / "visual-int8.onnx").exists():
                encoders["openvino on the int8 graph"] = openvino(
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
        # the median round: a busy moment of a shared machine moves the best round most
        rates = {name: len(pixels) / statistics.median(seconds)
                 for name, seconds in times.items()}
        exact = {name for name in encoders if cosines[name] >= MIN_COSINE}
        base = rates["torch eager fp32"]
        print(f"{'':32} {'best':>7} {'median':>7} photos/s   vs torch   min cosine to torch")
        for name, seconds in times.items():
            print(f"{name:32} {len(pixels) / min(seconds):7.1f} {rates[name]:7.1f}"
                  f"            {rates[name] / base:5.2f}x   {cosines[name]:.6f}"
                  f"{'  exact' if name in exact else ''}")
        assert all(np.isfinite(list(cosines.values())))
        fastest = max(exact, key=rates.__getitem__)
        print(f"\nexact (cosine >= {MIN_COSINE} to torch): {', '.join(sorted(exact))}; "
              f"fastest: {fastest}, {rates[fastest]:.1f} photos/s")
        if hasattr(engine.model.visual, "patch_size"):  # the work is counted for ViTs only
            per_image = gflop_per_image(engine.model.visual)
            print(f"full-precision ceiling: the tower is {per_image:.2f} GFLOP an image; the "
                  f"fastest exact runtime computes {rates[fastest] * per_image:.0f} GFLOP/s "
                  f"here, so no pipeline at full precision passes {rates[fastest]:.1f} "
                  f"photos/s on this CPU")
        for name, label in offered.items():
            if not RUNTIMES[name].exact:
                print(f"--backend {name}: {rates[label] / rates[fastest]:.2f}x the fastest "
                      f"exact runtime, cosine {cosines[label]:.5f} to torch (its own model)")


if __name__ == "__main__":
    torch.set_num_threads(machine.cpu_count())
    main()
