"""photoplug against rclip 3.3 on the same photos, the same architecture, the same machine.

    python3 -m venv /tmp/rclip && /tmp/rclip/bin/pip install rclip==3.3.0
    .venv/bin/python benchmarks/rclip_side_by_side.py --rclip /tmp/rclip/bin/rclip

rclip downloads its ONNX models (ViT-B-32-256) from Hugging Face; offline, this script
gives it the same architecture with seeded random weights instead: the open_clip model
is exported to ONNX in rclip's own layout (``visual.onnx``, ``textual.onnx`` with input
``input``, and the tokenizer vocabulary) under a private ``RCLIP_DATADIR``, so rclip runs
its normal code path. photoplug loads the same weights as a local-dir model, in its
default configuration (``--backend auto``: the runtime it measured fastest here) and with
``--backend int8``; the one-off export, measurement and quantisation run first, untimed, on
a folder of one photo. Both are timed as a user runs them: new processes, wall clock,
start-up included.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from index_and_search import make_photos, measured  # noqa: E402
from random_models import model_folder  # noqa: E402

from photoplug.model import machine  # noqa: E402

ARCH = "ViT-B-32-256"
RCLIP_SUBDIR = "ViT-B-32-256-datacomp_s34b_b86k"  # where rclip 3.3 looks for its model


class _Text(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.model.encode_text(tokens)


def rclip_model(model_folder: str, datadir: Path) -> None:
    """The local-dir model as rclip's ONNX files, in rclip's folder layout."""
    import open_clip

    from photoplug.model.clip_tokenizer import open_clip_vocabulary
    model = open_clip.create_model(model_folder).eval()
    target = datadir / RCLIP_SUBDIR
    target.mkdir(parents=True)
    size = model.visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else size
    torch.onnx.export(model.visual, (torch.zeros(2, 3, size, size),), str(target / "visual.onnx"),
                      dynamo=False, input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "n"}, "output": {0: "n"}}, opset_version=17)
    torch.onnx.export(_Text(model), (torch.zeros(2, 77, dtype=torch.int64),),
                      str(target / "textual.onnx"), dynamo=False, input_names=["input"],
                      output_names=["output"], dynamic_axes={"input": {0: "n"},
                                                             "output": {0: "n"}},
                      opset_version=17)
    (datadir / "tokenizer").mkdir()
    shutil.copy(open_clip_vocabulary(), datadir / "tokenizer" / open_clip_vocabulary().name)


def run(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rclip", required=True, help="the rclip executable (rclip 3.3)")
    ap.add_argument("--photos", type=int, default=100)
    ap.add_argument("--size", default="4000x3000", help="WxH of the generated JPEGs")
    ap.add_argument("--queries", type=int, default=3)
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    size = tuple(int(v) for v in args.size.split("x"))
    photoplug = str(Path(sys.executable).with_name("photoplug"))
    with tempfile.TemporaryDirectory(prefix="photoplug-vs-rclip-") as tmp:
        tmp = Path(tmp)
        photos = tmp / "photos"
        make_photos(photos, args.photos, size)
        warm = tmp / "warm"
        make_photos(warm, 1, (640, 480))
        model = model_folder(ARCH, tmp / "model")
        rclip_model(model, tmp / "rclip-data")
        os.environ["XDG_CACHE_HOME"] = str(tmp / "cache")  # exports of these random weights
        env = {**os.environ, "RCLIP_DATADIR": str(tmp / "rclip-data"), "HF_HUB_OFFLINE": "1",
               "PHOTOPLUG_INDEX": str(tmp / "index.sqlite3")}
        print(machine.describe())
        print(f"{args.photos} JPEGs of {size[0]}x{size[1]}, {ARCH} (random weights)")
        query = "a red circle"
        rows = []
        rclip_index = run([args.rclip, "--top", "1", query], env, cwd=photos)
        rclip_query = [run([args.rclip, "-n", "--top", "10", query], env, cwd=photos)
                       for _ in range(args.queries)]
        rows.append(("rclip 3.3", rclip_index, rclip_query))
        for backend in ("auto", "int8"):
            env["PHOTOPLUG_INDEX"] = str(tmp / f"warm-{backend}.sqlite3")
            run([photoplug, "index", str(warm), "--model", model, "--backend", backend],
                env)  # one-off work left untimed: export, probe, compiled copy, int8 copy
            if backend == "auto":
                print(f"  auto measured: {measured(model)}")
            env["PHOTOPLUG_INDEX"] = str(tmp / f"index-{backend}.sqlite3")
            index = run([photoplug, "index", str(photos), "--model", model, "--backend",
                         backend], env)
            searches = [run([photoplug, "search", query, "--top", "10"], env)
                        for _ in range(args.queries)]
            rows.append((f"photoplug ({backend})", index, searches))
        base_index, base_query = rows[0][1], statistics.median(rows[0][2])
        for name, index, searches in rows:
            print(f"  {name:<22} index {args.photos / index:6.1f} photos/s "
                  f"({index:6.1f} s, start-up included; {base_index / index:.2f}x rclip)   "
                  f"cold search p50 {statistics.median(searches):5.2f} s "
                  f"({base_query / statistics.median(searches):.2f}x rclip)")


if __name__ == "__main__":
    main()
