"""Text in photos (#22): what `index --text` costs, and what text matching adds to a search.

    .venv/bin/python benchmarks/text_index.py [--photos 40] [--rows 100000] [--model M]

1. Indexing speed on a library where 10 % of the photos show text (made as in
   tests/text_photos.py), against the same run without OCR: photos/s of each, and the
   text pass alone (the gate's outcome included). A library smaller than the gate's
   sample (200 photos) is read in full: that is the worst case.
2. Search latency at --rows photos with text (1 to 3 lines of real words each, 10 %
   Chinese) through the library API, as `serve` runs it: text matching on ("auto") minus
   off, for a query many photos' text matches, a two-word phrase, a Chinese word and a
   query no text matches.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from text_photos import CHINESE, WORDS, make_photo, word_plan  # noqa: E402

from photoplug.api import Photoplug  # noqa: E402
from photoplug.hooks import Query, QueryTerm  # noqa: E402
from photoplug.index import text_store  # noqa: E402

TOY_CLIP = REPO.parent / "shared" / "models" / "toy-clip"


def library(folder: Path, photos: int) -> Path:
    with_text = max(1, photos // 10)
    for i, lines in enumerate(word_plan(with_text, 0, seed=7)):
        make_photo(folder / f"t{i:03d}.jpg", lines, seed=i)
    for i in range(photos - with_text):
        make_photo(folder / f"n{i:03d}.jpg", [], seed=1000 + i)
    return folder


def index_speed(work: Path, photos: int, model: str) -> None:
    pics = library(work / "pics", photos)
    for text in (False, True):
        app = Photoplug(index=work / f"index-{text}.sqlite3", model=model)
        started = time.perf_counter()
        report = app.index(app.open(f"folder:{pics}"), text=text)
        seconds = time.perf_counter() - started
        print(f"index {'--text   ' if text else '--no-text'}: {photos} photos in {seconds:6.1f} s"
              f" = {photos / seconds:5.2f} photos/s (encoding {report.seconds:.1f} s)")
        if report.text:
            t = report.text
            print(f"  text pass {t.seconds:.1f} s = {t.seconds / max(t.read, 1):.2f} s per photo "
                  f"read; {t.read} read, {t.with_text} with text, {t.gated} gated, "
                  f"{len(t.failed)} failed; gate: {t.gate.note if t.gate else '-'}")
        app.store.close()


def search_latency(work: Path, rows: int, model: str) -> None:
    app = Photoplug(index=work / "big.sqlite3", model=model)
    pics = work / "one"
    make_photo(pics / "seed.jpg", ["tulip harbor"], seed=1, size=(640, 480))
    app.index(app.open(f"folder:{pics}"))
    store = app.store
    location_id = store.location_id(f"folder:{pics}")
    model_id = store.find_model_id(*_identity(app, pics))
    dim = store.db.execute("SELECT dim FROM models WHERE id=?", (model_id,)).fetchone()[0]
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    with store.transaction() as db:
        for i in range(rows):
            h = f"synthetic{i:08d}"
            store.upsert_photo(db, location_id, f"s{i}.jpg", str(pics / f"s{i}.jpg"), 1, 1.0,
                               h, "ok", None, {})
            vector = rng.normal(size=dim).astype(np.float32)
            store.put_embedding(db, model_id, h, vector / np.linalg.norm(vector))
            if rng.random() < 0.1:
                lines = ["".join(rng.choice(CHINESE, int(rng.integers(1, 3))))]
            else:
                lines = [" ".join(rng.choice(WORDS, int(rng.integers(1, 3))))
                         for _ in range(int(rng.integers(1, 4)))]
            text_store.put(db, h, "bench", "text", lines)
    store.db.execute("INSERT INTO texts_fts(texts_fts) VALUES ('optimize')")
    print(f"{rows} photos with text written in {time.perf_counter() - started:.0f} s")
    uris = [f"folder:{pics}"]
    for words in ("harbor", "tulip harbor", "港口", "zeppelin airship"):
        query = Query((QueryTerm(words),))
        timings = {}
        for mode in ("off", "auto"):
            app.search(query, uris, top=10, text=mode)  # warm: matrix, text tower
            runs = []
            for _ in range(15):
                t = time.perf_counter()
                results = app.search(query, uris, top=10, text=mode)
                runs.append((time.perf_counter() - t) * 1000)
            timings[mode] = statistics.median(runs)
        matched = sum(r.text is not None for r in results)
        print(f"search {json.dumps(words, ensure_ascii=False):20}: CLIP alone "
              f"{timings['off']:6.1f} ms, with text {timings['auto']:6.1f} ms "
              f"(+{timings['auto'] - timings['off']:5.1f} ms; {matched}/10 text matches)")


def _identity(app: Photoplug, pics: Path) -> tuple[str, str, str]:
    ident = app.index_engine(f"folder:{pics}").identity
    return ident.name, ident.pretrained, ident.weights_hash


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=40)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--model", default=f"local-dir:{TOY_CLIP}")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="photoplug-text-bench-"))
    try:
        index_speed(work, args.photos, args.model)
        search_latency(work, args.rows, args.model)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
