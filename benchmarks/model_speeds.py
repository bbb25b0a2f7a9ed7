"""The recommended models' speed on this CPU, each against ViT-B-32 measured in the same run.

    .venv/bin/python benchmarks/model_speeds.py [--models ViT-B-32 MobileCLIP2-S0 ...]

Each architecture is measured as ``photoplug models --measure`` measures it
(``photoplug.model.model_speed``): seeded random weights (no download), the image tower
exported to ONNX and run by the runtime photoplug's probe picks here, batches of 8
preprocessed photos (photos/s, median batch; JPEG decoding not included), single text
queries through the numpy text tower (ms, median), and the resident memory each adds.
Every model is measured afresh (the results also refresh photoplug's cache). Ratios are
against ViT-B-32 (the baseline, always measured first): above 1 means faster.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from photoplug.model import machine
from photoplug.model.catalog import BASELINE, RECOMMENDED
from photoplug.model.model_speed import NotMeasurable, measure


def _fmt(value: object, spec: str = "") -> str:
    return "-" if value is None else format(value, spec)


def main() -> None:
    architectures = list(dict.fromkeys(r.model for r in RECOMMENDED))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=architectures,
                    help="open_clip architectures (default: every recommended one)")
    ap.add_argument("--batches", type=int, default=3, help="timed batches of 8 photos")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    names = [BASELINE] + [m for m in args.models if m != BASELINE]
    print(machine.describe())
    print(f"seeded random weights; batches of 8 photos, {args.batches} timed; "
          f"{machine.cpu_count()} threads", flush=True)
    results, failures = {}, {}
    for name in names:
        start = time.perf_counter()
        try:
            results[name] = measure(name, batches=args.batches, force=True)
            print(f"  {name}: measured in {time.perf_counter() - start:.0f} s", flush=True)
        except NotMeasurable as exc:
            failures[name] = str(exc)
            print(f"  {name}: {exc}", flush=True)
    base = results.get(BASELINE, {})
    head = (f"{'model':<26} {'params M':>8} {'photos/s':>8} {'x B-32':>6} {'ms/query':>8} "
            f"{'x B-32':>6} {'image MB':>8} {'text MB':>8}  runtimes")
    print("\n" + head + "\n" + "-" * len(head))
    for name, r in results.items():
        speed = r.get("photos_per_s")
        ms = r.get("ms_per_query")
        ratio_image = speed / base["photos_per_s"] if speed and base.get("photos_per_s") \
            else None
        ratio_text = base["ms_per_query"] / ms if ms and base.get("ms_per_query") else None
        print(f"{name:<26} {_fmt(r.get('params_m'), '.1f'):>8} {_fmt(speed, '.2f'):>8} "
              f"{_fmt(ratio_image, '.2f'):>6} {_fmt(ms, '.1f'):>8} {_fmt(ratio_text, '.2f'):>6} "
              f"{_fmt(r.get('image_memory_mb'), '.0f'):>8} "
              f"{_fmt(r.get('text_memory_mb'), '.0f'):>8}  "
              f"{r.get('image_runtime')}/{r.get('text_runtime')}")
    for name, r in results.items():
        for line in r.get("notes", []):
            print(f"note: {name}: {line}")
    for name, why in failures.items():
        print(f"not measured: {why}")
    if BASELINE not in results:
        sys.exit(f"the baseline {BASELINE} could not be measured")


if __name__ == "__main__":
    main()
