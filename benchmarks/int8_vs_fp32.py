"""The onnx-int8 backend against torch fp32 eager: image throughput and embedding cosine.

    .venv/bin/python benchmarks/int8_vs_fp32.py --arch ViT-B-32

Both engines load the same model folder (an open_clip architecture with seeded random
weights: the real model's compute; or toy-clip with --arch toy) and encode the same
batches of preprocessed photos drawn by toy-clip's recipe, in one run.
"""
from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from index_and_search import TOY_CLIP, make_photos, random_arch_folder  # noqa: E402

from photoplug.engine import load_engine  # noqa: E402
from photoplug.weights import ModelSpec  # noqa: E402


def rate(encode, batch: torch.Tensor, repeat: int) -> float:
    encode(batch)  # warm up
    start = time.perf_counter()
    for _ in range(repeat):
        encode(batch)
    return repeat * len(batch) / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", default="ViT-B-32", help="open_clip architecture, or 'toy'")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=4)
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="photoplug-bench-") as tmp:
        model = f"local-dir:{TOY_CLIP}" if args.arch == "toy" else \
            random_arch_folder(args.arch, Path(tmp) / "model")
        fp32 = load_engine(ModelSpec.build(model, None, None, "torch"), "cpu")
        start = time.perf_counter()
        int8 = load_engine(ModelSpec.build(model, None, None, "onnx-int8"), "cpu")
        print(f"model {args.arch}; int8 engine ready in {time.perf_counter() - start:.1f} s "
              f"(export + quantisation the first time, cached after); torch threads "
              f"{torch.get_num_threads()}")
        from PIL import Image
        paths = make_photos(Path(tmp) / "photos", args.batch, (800, 600))
        batch = torch.stack([fp32.preprocess(Image.open(p).convert("RGB")) for p in paths])
        a, b = fp32.encode_pixels(batch), int8.encode_pixels(batch)
        cos = (a * b).sum(axis=1)
        r32 = rate(fp32.encode_pixels, batch, args.repeat)
        r8 = rate(int8.encode_pixels, batch, args.repeat)
        print(f"torch fp32 eager   {r32:7.1f} photos/s")
        print(f"onnx-int8          {r8:7.1f} photos/s   int8/fp32 = {r8 / r32:.2f}x")
        print(f"cosine(int8, fp32) min {cos.min():.5f}  mean {cos.mean():.5f}  "
              f"over {len(cos)} photos")
        assert np.isfinite(cos).all()


if __name__ == "__main__":
    main()
