"""Precision and recall of calibrated albums on a labelled folder (needs real weights).

    .venv/bin/python benchmarks/albums_quality.py LABELLED_DIR --model ViT-B-32 --pretrained openai
    .venv/bin/python benchmarks/albums_quality.py LABELLED_DIR --model ViT-B-32 --weights FILE

LABELLED_DIR holds one subfolder per label ("beach", "dog", "receipt", ...), each with
photos of that label. Every label becomes an album with the prompt "a photo of a LABEL"
(or --albums FILE whose album names are the labels) at the default threshold ("auto"),
synced against the whole folder; precision and recall are printed per album, with the
fixed-cut baseline (the best single cosine for all albums) measured in the same run.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from photoplug.albums import AlbumDef, load_albums
from photoplug.api import Photoplug
from photoplug.membership import album_scores, albums_members


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--model", default="ViT-B-32")
    ap.add_argument("--pretrained")
    ap.add_argument("--weights")
    ap.add_argument("--albums", type=Path, help="album definitions named after the labels")
    args = ap.parse_args()
    labels = sorted(p.name for p in args.folder.iterdir() if p.is_dir())
    albums = load_albums(args.albums) if args.albums else \
        [AlbumDef(label, (f"a photo of a {label}",)) for label in labels]
    with tempfile.TemporaryDirectory() as tmp:
        app = Photoplug(index=Path(tmp) / "index.sqlite3", model=args.model,
                        pretrained=args.pretrained, weights=args.weights)
        library = app.open(str(args.folder))
        app.index(library)
        engine, matrix, rows = app.library_vectors(library)
        encode = lambda texts: app.text_vectors(engine, texts)  # noqa: E731
        truth = [{i for i, r in enumerate(rows) if Path(r[1]).parts[0] == a.name}
                 for a in albums]
        results = albums_members(albums, matrix, encode, engine)
        scores = album_scores(albums, matrix, encode, engine)

        def pr(members: set[int], expected: set[int]) -> tuple[float, float]:
            hits = len(members & expected)
            return hits / max(len(members), 1), hits / max(len(expected), 1)

        best_fixed = max(np.linspace(0.1, 0.4, 61), key=lambda cut: np.mean(
            [sum(pr(set(np.flatnonzero(scores[:, j] >= cut)), t)) for j, t in
             enumerate(truth)]))
        print(f"{len(rows)} photos, {len(albums)} albums, model {engine.spec.label}")
        print(f"{'album':<28} {'auto P':>7} {'auto R':>7} {'cut':>6}   "
              f"fixed {best_fixed:.3f}: P      R")
        for j, (result, expected) in enumerate(zip(results, truth)):
            p, r = pr(set(result.members), expected)
            fp, fr = pr(set(np.flatnonzero(scores[:, j] >= best_fixed)), expected)
            print(f"{result.album.name:<28} {p:7.2f} {r:7.2f} {result.threshold:6.3f}"
                  f"   {fp:13.2f} {fr:6.2f}")


if __name__ == "__main__":
    main()
