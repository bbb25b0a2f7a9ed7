"""Start-up of ``photoplug index`` in a new process: how soon the model works, with the
image tower exported (no torch) against the torch backend, in one run.

    .venv/bin/python benchmarks/index_startup.py --arch ViT-B-32-256

After one untimed run has exported the model (into a private cache), each timed run is a
new ``photoplug index`` process on a new index over the same photos. Printed per backend
(median of --runs): seconds from starting the process to the first batch entering the
model, to that batch stored, and to the end; and whether torch was imported.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from index_and_search import make_photos, measured  # noqa: E402
from random_models import model_folder  # noqa: E402

from photoplug.model import machine  # noqa: E402

# runs inside the timed process: report when the first batch enters the model and is stored
PROBE = """
import json, sys, time
import photoplug.index.indexer as indexer
marks = {}
def mark(name):
    marks.setdefault(name, time.time())
def store_batch(store, engine, *args, _original=indexer._store_batch):
    encode = engine.encode_pixels
    def timed(pixels):
        mark("model")
        return encode(pixels)
    engine.encode_pixels = timed
    try:
        return _original(store, engine, *args)
    finally:
        mark("stored")
        engine.encode_pixels = encode
indexer._store_batch = store_batch
from photoplug.cli import main
try:
    main()
except SystemExit:
    pass
marks["torch"] = "torch" in sys.modules
print(json.dumps(marks), file=sys.stderr)
"""


def timed_run(args: list[str], env: dict[str, str]) -> dict[str, float]:
    start = time.time()
    run = subprocess.run([sys.executable, "-c", PROBE, *args], env=env, check=True,
                         capture_output=True, text=True)
    end = time.time()
    marks = json.loads(run.stderr.strip().splitlines()[-1])
    return {"model": marks["model"] - start, "stored": marks["stored"] - start,
            "end": end - start, "torch": marks["torch"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", default="ViT-B-32-256", help="open_clip architecture")
    ap.add_argument("--photos", type=int, default=64)
    ap.add_argument("--size", default="4000x3000", help="WxH of the generated JPEGs")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="photoplug-bench-") as tmp:
        tmp = Path(tmp)
        size = tuple(int(v) for v in args.size.split("x"))
        make_photos(tmp / "photos", args.photos, size)
        model = model_folder(args.arch, tmp / "model")
        os.environ["XDG_CACHE_HOME"] = str(tmp / "cache")  # its exports, not the user's
        env = dict(os.environ)
        print(machine.describe())
        print(f"{args.photos} JPEGs of {size[0]}x{size[1]}, {args.arch} (random weights); "
              f"seconds from starting `photoplug index`, median of {args.runs} new processes")
        for backend in ("auto", "torch"):
            common = ["index", str(tmp / "photos"), "--model", model, "--backend", backend]
            subprocess.run([sys.executable, "-c", PROBE, *common], check=True,
                           capture_output=True, env={**env, "PHOTOPLUG_INDEX": str(
                               tmp / f"warm-{backend}.sqlite3")})  # export, probe: untimed
            if backend == "auto":
                print(f"  auto measured: {measured(model)}")
            runs = [timed_run(common, {**env, "PHOTOPLUG_INDEX": str(
                tmp / f"{backend}-{n}.sqlite3")}) for n in range(args.runs)]
            median = {k: statistics.median(r[k] for r in runs) for k in ("model", "stored",
                                                                       "end")}
            print(f"  --backend {backend:<6} first batch in the model {median['model']:5.2f} s,"
                  f" stored {median['stored']:5.2f} s, all {args.photos} {median['end']:5.2f} s;"
                  f" torch imported: {'yes' if runs[0]['torch'] else 'no'}")


if __name__ == "__main__":
    main()
