"""Cold ``photoplug search`` (a new process, print included) for each model family, against
OpenAI-style CLIP ViT-B-32 measured in the same run.

    .venv/bin/python benchmarks/cold_search_families.py --runs 5

Each architecture gets seeded random weights (the real model's compute). SigLIP2's Gemma
tokenizer cannot be downloaded here, so a stand-in of the same size (a Unigram
tokenizer.json of 256,000 pieces, read by the same ``tokenizers`` code) takes its place:
its load time is the real one's to within the file's size (photoplug keeps a compact form
of it beside the text tower, so a query loads only the pieces it uses). Every photo library
is the same 8 drawings; each model indexes it into an index of its own first (exporting
its towers), untimed; then the searches run in rounds, one per model in turn, so a busy
moment of a shared machine falls on every model alike.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from index_and_search import make_photos  # noqa: E402
from random_models import model_folder  # noqa: E402

from photoplug.model import machine  # noqa: E402

PHOTOPLUG = str(Path(sys.executable).with_name("photoplug"))
ARCHS = ("ViT-B-32", "ViT-B-32-SigLIP2-256", "MobileCLIP2-S0")


def cold_search(model: str, photos: Path, env: dict[str, str]) -> float:
    """Seconds of one ``photoplug search`` in a new process."""
    start = time.perf_counter()
    done = subprocess.run([PHOTOPLUG, "search", "a photo of a red circle", str(photos),
                           "--no-text", "--model", model], env=env, capture_output=True,
                          text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{model}: {done.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--archs", nargs="+", default=list(ARCHS))
    args = parser.parse_args()
    print(machine.describe())
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        photos = root / "photos"
        make_photos(photos, 8, (800, 600))
        base_env = {**os.environ, "XDG_CACHE_HOME": str(root / "cache"),
                    "HF_HUB_OFFLINE": "1", "LC_ALL": "C.UTF-8"}
        models, envs = {}, {}
        for arch in args.archs:  # each its own index: a search finds its model alone
            models[arch] = model_folder(arch, root / "models")
            envs[arch] = {**base_env, "PHOTOPLUG_INDEX": str(root / f"{arch}.sqlite3")}
            subprocess.run([PHOTOPLUG, "index", str(photos), "--model", models[arch]],
                           env=envs[arch], check=True, capture_output=True)
        times: dict[str, list[float]] = {arch: [] for arch in args.archs}
        for _ in range(args.runs):
            for arch in args.archs:
                times[arch].append(cold_search(models[arch], photos, envs[arch]))
        rows = list(times.items())
        base = statistics.median(rows[0][1])
        print(f"{'model':<24} {'cold search p50':>16} {'p95':>8}  vs {rows[0][0]}")
        for arch, seconds in rows:
            p50 = statistics.median(seconds)
            p95 = sorted(seconds)[max(0, int(round(0.95 * len(seconds))) - 1)]
            print(f"{arch:<24} {p50:>14.2f} s {p95:>6.2f} s  {p50 / base:.2f}x")


if __name__ == "__main__":
    main()
