"""Draw labelled toy-clip libraries for ``albums_quality.py``: folders holding only some of
toy-clip's 18 classes, one subfolder per class.

    .venv/bin/python benchmarks/toy_libraries.py /tmp/toy --per-class 20
    for lib in /tmp/toy/*; do .venv/bin/python benchmarks/albums_quality.py $lib \\
        --model local-dir:../shared/models/toy-clip --only-mine --absent "a photo of a cat"; done
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

TOY_CLIP = Path(__file__).resolve().parents[2] / "shared" / "models" / "toy-clip"
sys.path.insert(0, str(TOY_CLIP))
from draw import CLASSES, draw  # noqa: E402

LIBRARIES = {
    "all-18-classes": lambda c, s: True,
    "half-the-colours": lambda c, s: c in ("green", "blue", "yellow"),
    "no-triangles": lambda c, s: s != "triangle",
    "blue-squares-only": lambda c, s: (c, s) == ("blue", "square"),
    "no-red": lambda c, s: c != "red",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--per-class", type=int, default=20)
    ap.add_argument("--size", default="320x240")
    args = ap.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    for name, keep in LIBRARIES.items():
        for n, (colour, shape) in enumerate(CLASSES):
            if not keep(colour, shape):
                continue
            folder = args.out / name / f"{colour} {shape}"
            folder.mkdir(parents=True, exist_ok=True)
            for k in range(args.per_class):
                rng = np.random.default_rng(5000 + 100 * n + k)
                draw(colour, shape, size, rng).save(folder / f"{k}.jpg", quality=90)
        print(args.out / name)


if __name__ == "__main__":
    main()
