"""Indexing on a Ray cluster against indexing here: the same photos, in one process.

    .venv/bin/python benchmarks/ray_index.py --arch ViT-B-32-256 --photos 120 --size 4000x3000
    .venv/bin/python benchmarks/ray_index.py --photos 400 --workers 1 2

Photos are drawn by toy-clip's recipe; the model is toy-clip, or with --arch an open_clip
architecture with seeded random weights (the real model's compute). After an untimed run
that exports the model (into a private cache), the photos are indexed here (the local
pipeline, alone on the machine), then a local Ray cluster of this machine's cores is
started (its files in a temporary folder) and they are indexed on it with each --workers
count, each run into a new index. Printed: the CPU; each run's rate (photos encoded per
second of the run, workers' start included) and its ratio to the local run's; and each
worker's rate (from the start of its first batch to the end of its last).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from index_and_search import TOY_CLIP, make_photos  # noqa: E402
from random_models import model_folder  # noqa: E402

from photoplug.model import machine  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", type=int, default=120)
    ap.add_argument("--size", default="4000x3000", help="WxH of the generated JPEGs")
    ap.add_argument("--arch", help="open_clip architecture with random weights (e.g. ViT-B-32)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1],
                    help="Ray runs, one per count of workers (default: 1, one per node)")
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="photoplug-bench-") as tmp:
        tmp = Path(tmp)
        for name in ("XDG_CACHE_HOME", "XDG_DATA_HOME", "HOME"):  # Ray's workers inherit
            os.environ[name] = str(tmp / name.lower())
        os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
        size = tuple(int(v) for v in args.size.split("x"))
        make_photos(tmp / "photos", args.photos, size)
        make_photos(tmp / "warm-up", 8, (640, 480))
        model = model_folder(args.arch, tmp / "model") if args.arch else \
            f"local-dir:{TOY_CLIP}"
        print(machine.describe())
        print(f"{args.photos} JPEGs of {size[0]}x{size[1]}, "
              f"{args.arch + ' (random weights)' if args.arch else 'toy-clip'}")
        run(tmp / "warm.sqlite3", model, tmp / "warm-up")
        here = run(tmp / "local.sqlite3", model, tmp / "photos")
        print(f"  here (local pipeline)    {here.rate:6.2f} photos/s  1.00x")

        import ray
        from photoplug.index.cluster import ClusterOptions
        ray.init(num_cpus=machine.cpu_count(), _temp_dir=str(tmp / "ray"),
                 include_dashboard=False, logging_level="ERROR")
        try:
            for count in args.workers:
                report = run(tmp / f"ray-{count}.sqlite3", model, tmp / "photos",
                             ClusterOptions(workers=count))
                assert report.encoded == here.encoded, report.summary()
                rates = ", ".join(f"{w['rate']:.2f}" for w in report.workers)
                print(f"  Ray, {count} worker{'s' if count > 1 else ' '} "
                      f"({report.workers[0]['backend']})"
                      f" {report.rate:6.2f} photos/s  {report.rate / here.rate:.2f}x;"
                      f" per worker: {rates} photos/s")
        finally:
            ray.shutdown()


def run(index: Path, model: str, photos: Path, cluster: object = None) -> object:
    from photoplug.api import Photoplug
    app = Photoplug(index=index, model=model, device="cpu")
    return app.index(app.open(str(photos)), cluster=cluster)


if __name__ == "__main__":
    main()
