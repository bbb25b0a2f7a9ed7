"""Text in photos (#22): read by rapidocr while indexing (``index --text``), kept in the
index's FTS5 table, found by search beside what CLIP sees.

The photos are made at test time (tests/text_photos.py): real fonts, sizes, colours,
rotations up to 15 degrees, photo-like backgrounds, JPEG; and photos without text. Each
word is in exactly one photo.
"""
from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import Cli
from text_photos import hang_or_crash_ocr, make_photo, word_plan

from photoplug.hooks import Query, QueryTerm
from photoplug.text.gate import Gate, measure
from photoplug.text.query import matched_line, text_query
from photoplug.text.reader import RapidReader, keep_line

N_LATIN, N_CHINESE, N_NONE = 18, 3, 7


def query_for(lines: list[str]) -> str:
    """A two-word line if the photo has one, else its first word."""
    two = [line for line in lines if len(line.split()) == 2]
    return (two[0] if two else lines[0].split()[0]).lower()


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory, toy_model: str) -> dict:
    folder = tmp_path_factory.mktemp("text-photos")
    pics = folder / "pics"
    plans = word_plan(N_LATIN, N_CHINESE, seed=22)
    made = [make_photo(pics / f"t{i:02d}.jpg", lines, seed=i, chinese=i >= N_LATIN)
            for i, lines in enumerate(plans)]
    made += [make_photo(pics / f"n{i:02d}.jpg", [], seed=100 + i) for i in range(N_NONE)]
    Image.new("RGB", (4, 4), (200, 30, 30)).save(pics / "tiny.png")
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (150, 6000, 3), np.uint8)
                    ).save(pics / "narrow.png")
    cli = Cli(folder / "index.sqlite3", toy_model)
    started = time.monotonic()
    run = cli("index", f"folder:{pics}", "--text", "--json")
    return {"pics": pics, "made": made, "cli": cli, "report": json.loads(run.stdout),
            "summary": run.stderr, "seconds": time.monotonic() - started}


def api(library: dict, toy_model: str):
    from photoplug.api import Photoplug
    return Photoplug(index=library["cli"].index, model=toy_model)


def test_index_reads_the_text_and_says_so(library: dict) -> None:
    text = library["report"]["text"]
    assert text["read"] == N_LATIN + N_CHINESE + N_NONE + 1  # the tiny one: read, no text
    assert "photos read" in library["summary"] and "with text" in library["summary"]
    # the 20:1 strip is skipped with a reason, and keeps its vector
    assert [f["path"].endswith("narrow.png") for f in text["failed"]] == [True]
    assert "too narrow" in text["failed"][0]["reason"]
    assert library["report"]["encoded"] == N_LATIN + N_CHINESE + N_NONE + 2
    status = library["cli"].json("status")["locations"][0]
    assert status["indexed"] == N_LATIN + N_CHINESE + N_NONE + 2
    assert status["text"]["read"] == text["read"] and status["text"]["failed"] == 1
    assert "text:" in library["cli"]("status").stdout


def test_photos_without_text_get_none(library: dict) -> None:
    db = sqlite3.connect(library["cli"].index)
    rows = dict(db.execute("SELECT p.stable_id, t.text FROM photos p JOIN texts t "
                           "ON t.hash = p.hash"))
    assert {sid: rows[sid] for sid in rows if sid[0] == "n" and sid[-4:] == ".jpg"
            or sid == "tiny.png"} \
        == {f"n{i:02d}.jpg": "" for i in range(N_NONE)} | {"tiny.png": ""}
    found = sum(bool(rows[f"t{i:02d}.jpg"]) for i in range(N_LATIN + N_CHINESE))
    assert found >= N_LATIN + N_CHINESE - 1


def test_a_word_in_one_photo_puts_it_first(library: dict, toy_model: str) -> None:
    app = api(library, toy_model)
    hits, misses = 0, []
    for meta in library["made"]:
        if not meta["lines"]:
            continue
        words = query_for(meta["lines"])
        results = app.search(Query((QueryTerm(words),)), top=5)
        if results and results[0].path.name == meta["file"]:
            hits += 1
            assert results[0].text is not None and results[0].text_spans
        else:
            misses.append((words, meta["file"], [r.path.name for r in results[:2]]))
    print(f"\ntext queries with their photo first: {hits}/{N_LATIN + N_CHINESE}; {misses}")
    assert hits / (N_LATIN + N_CHINESE) >= 0.9, misses


def test_no_text_match_is_clip_alone(library: dict, toy_model: str) -> None:
    app = api(library, toy_model)
    for words in ("a photo of a red circle", "zeppelin"):
        query = Query((QueryTerm(words),))
        auto, clip = app.search(query, top=8), app.search(query, top=8, text="off")
        assert [(r.path, r.score) for r in auto] == [(r.path, r.score) for r in clip]
        assert all(r.text is None for r in auto)
        assert app.search(query, top=8, text="only") == []


def test_search_json_text_only_and_no_text(library: dict) -> None:
    cli, made = library["cli"], library["made"]
    target = next(m for m in made if m["lines"] and len(m["lines"][0].split()) == 2)
    words = target["lines"][0]
    out = cli.json("search", words.upper(), "--text-only", "--all-frames")
    assert [r["id"] for r in out] == [target["file"]]
    assert out[0]["text"].lower() == words.lower()
    assert [out[0]["text"][a:b] for a, b in out[0]["text_spans"]] == out[0]["text"].split()
    swapped = " ".join(reversed(words.split()))  # both words, not as the phrase
    assert cli.json("search", f'"{swapped}"', "--text-only") == []
    table = cli("search", words, "--top", "3").stdout
    assert f"text: {words}".lower() in table.lower()
    plain = cli.json("search", words, "--no-text", "--top", "3", "--all-frames")
    assert all("text" not in r for r in plain)


def test_text_is_incremental(tmp_path: Path, toy_model: str) -> None:
    pics = tmp_path / "pics"
    make_photo(pics / "a.jpg", ["tulip harbor"], seed=1, size=(1200, 900))
    make_photo(pics / "b.jpg", ["copper lantern"], seed=2, size=(1200, 900))
    cli = Cli(tmp_path / "index.sqlite3", toy_model)
    first = cli.json("index", f"folder:{pics}", "--text")["text"]
    assert (first["read"], first["with_text"]) == (2, 2)
    again = cli.json("index", f"folder:{pics}", "--text")["text"]
    assert again["read"] == 0  # read before: costs nothing
    assert cli.json("index", f"folder:{pics}")["text"] is None  # --no-text: the default
    make_photo(pics / "a.jpg", ["marble falcon"], seed=3, size=(1200, 900))
    (pics / "b.jpg").unlink()
    changed = cli.json("index", f"folder:{pics}", "--text")["text"]
    assert changed["read"] == 1
    assert [r["id"] for r in cli.json("search", "marble falcon", "--text-only")] == ["a.jpg"]
    assert cli.json("search", "tulip", "--text-only") == []
    assert cli.json("search", "lantern", "--text-only") == []
    db = sqlite3.connect(tmp_path / "index.sqlite3")
    assert db.execute("SELECT count(*) FROM texts").fetchone()[0] == 1


def test_a_hanging_or_crashing_photo_is_skipped(tmp_path: Path) -> None:
    dark, white, fine = (tmp_path / f"{n}.png" for n in ("dark", "white", "fine"))
    Image.new("RGB", (300, 200), (0, 0, 0)).save(dark)
    Image.new("RGB", (300, 200), (255, 255, 255)).save(white)
    Image.new("RGB", (300, 200), (120, 90, 60)).save(fine)
    reader = RapidReader(time_limit=4, make_ocr=hang_or_crash_ocr, identity="fake")
    try:
        started = time.monotonic()
        hung = reader.read(dark)
        assert hung.failed and "took over 4 s" in hung.failed
        assert time.monotonic() - started < 30
        assert reader.read(fine).lines == ("hello world",)  # a fresh worker
        assert "crashed" in reader.read(white).failed
        assert reader.read(fine).lines == ("hello world",)
        assert "unreadable" in reader.read(tmp_path / "missing.jpg").failed
    finally:
        reader.close()


def test_queries_lines_and_filters() -> None:
    q = text_query('AND "tulip harbor" -x* NEAR(')
    assert q.match == '"AND" "x" "NEAR" "tulip harbor"' or '"tulip harbor"' in q.match
    assert text_query("港口").match == '"港 口"'
    assert text_query("Phở Hà Nội").words == ("pho", "ha", "noi")
    assert text_query("  ,;  ") is None
    assert matched_line("Grand Hotel\nTULIP Harbor", ("tulip", "harbor")) == \
        ("TULIP Harbor", ((0, 5), (6, 12)))
    assert matched_line("欢迎光临郁金香港口", ("港", "口")) == ("欢迎光临郁金香港口", ((7, 9),))
    assert not keep_line("一", 0.99) and not keep_line("19", 0.99)
    assert not keep_line("harbor", 0.5) and keep_line("港口", 0.9) and keep_line("2024", 0.9)


def test_the_gate_keeps_every_sample_photo_with_text() -> None:
    rng = np.random.default_rng(0)
    text = rng.random(200) < 0.1
    scores = np.where(text, rng.normal(0.05, 0.02, 200), rng.normal(-0.05, 0.02, 200))
    gate = measure(scores, text)
    assert gate.threshold is not None and all(gate.wants(s) for s in scores[text])
    assert gate.would_read < 0.5
    assert measure(scores[:50], text[:50]).threshold is None  # sample not complete
    assert measure(scores, np.zeros(200, bool)).threshold is None  # nothing to measure
    assert measure(rng.normal(0, 0.02, 200), text).threshold is None  # no better than all
    assert Gate().wants(-1.0)
