"""Precision and recall of smart albums on a labelled folder: the method in use against the
previous one (a Gaussian-mixture cut per album), side by side in the same run.

    .venv/bin/python benchmarks/albums_quality.py LABELLED_DIR --model ViT-B-32 --pretrained openai
    .venv/bin/python benchmarks/albums_quality.py LABELLED_DIR --model local-dir:../shared/models/toy-clip \\
        --only-mine --absent "a photo of a cat"

LABELLED_DIR holds one subfolder per label ("beach", "dog", "red circle", ...), each with
photos of that label. Every label becomes an album with the prompt "a photo of a LABEL"
and a vocabulary concept of the same prompt; ``--absent PROMPT`` adds albums of things
the folder does not hold (they should stay empty). ``benchmarks/toy_libraries.py`` draws
such folders for toy-clip. Real weights are needed for real photos.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from baselines import gmm_membership  # noqa: E402

from photoplug.albums.definitions import AlbumDef  # noqa: E402
from photoplug.api import Photoplug  # noqa: E402
from photoplug.albums.membership import albums_members  # noqa: E402
from photoplug.albums.vocabulary import BUILTIN_VOCABULARY, Concept, load_vocabulary  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--model", default="ViT-B-32")
    ap.add_argument("--pretrained")
    ap.add_argument("--weights")
    ap.add_argument("--absent", action="append", default=[], metavar="PROMPT",
                    help="an album of something the folder does not hold (repeatable)")
    ap.add_argument("--only-mine", action="store_true",
                    help="the labels alone as the vocabulary, not the built-in one too")
    args = ap.parse_args()
    labels = sorted(p.name for p in args.folder.iterdir() if p.is_dir())
    albums = [AlbumDef(label, (f"a photo of a {label}",)) for label in labels]
    albums += [AlbumDef(prompt, (prompt,)) for prompt in args.absent]
    concepts = [Concept(label, (f"a photo of a {label}",), False) for label in labels]
    if not args.only_mine:
        concepts = load_vocabulary(BUILTIN_VOCABULARY) + concepts
    with tempfile.TemporaryDirectory() as tmp:
        app = Photoplug(index=Path(tmp) / "index.sqlite3", model=args.model,
                        pretrained=args.pretrained, weights=args.weights)
        library = app.open(str(args.folder))
        app.index(library)
        engine, matrix, rows = app.library_vectors(library)
        encoders = app.encoders(engine)
        label_of = {f"a photo of a {label}": label for label in labels}
        truth = [{i for i, r in enumerate(rows)
                  if Path(r[1]).parts[0] == label_of.get(a.prompts[0], a.name)}
                 for a in albums]
        previous = gmm_membership.albums_members(albums, matrix, encoders.texts)
        now = albums_members(albums, matrix, encoders, concepts)
    print(f"{len(rows)} photos in {len(labels)} labels, model {engine.spec.label}, "
          f"vocabulary {len(concepts)} concepts")
    print(f"{'album':<28} {'photos':>6}   {'previous: members':>17} {'P':>5} {'R':>5}"
          f"   {'now: members':>12} {'P':>5} {'R':>5}")
    for album, expected, old, new in zip(albums, truth, previous, now):
        cells = []
        for members in (set(old), set(new.members)):
            hits = len(members & expected)
            p = f"{hits / len(members):5.2f}" if members else "    -"
            r = f"{hits / len(expected):5.2f}" if expected else "    -"
            cells.append((len(members), p, r))
        (om, op, orr), (nm, np_, nr) = cells
        print(f"{album.name:<28} {len(expected):>6}   {om:>17} {op} {orr}   {nm:>12} {np_} {nr}")


if __name__ == "__main__":
    main()
