"""Changing a location's model: the old vectors answer until the new model holds every
photo, a killed re-index resumes where it stopped, and ``forget --model`` drops the old
vectors only when nothing answers with them (toy-clip to toy-siglip-ml, the CLI in
subprocesses as a user runs it)."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SHARED, Cli, draw_photo, pause_after_rows, wait_for

TOY_SIGLIP = SHARED / "models" / "toy-siglip-ml"
CLASSES = [("red", "circle"), ("blue", "square"), ("green", "triangle"), ("yellow", "star")]


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """Five pictures of each of four classes: 20 photos, more than one indexing batch."""
    root = tmp_path / "photos"
    for n, (colour, shape) in enumerate(CLASSES):
        for k in range(5):
            draw_photo(root / f"{colour}_{shape}_{k}.jpg", colour, shape, seed=40 * n + k,
                       size=(320, 240))
    return root


def vectors_of(index: Path) -> dict[str, int]:
    """Vectors per model folder name, read from the index file itself."""
    with sqlite3.connect(index) as db:
        return {Path(name.partition(":")[2]).name: n for name, n in db.execute(
            "SELECT m.name, count(e.hash) FROM models m LEFT JOIN embeddings e "
            "ON e.model_id = m.id GROUP BY m.id")}


def paused_reindex(cli: Cli, library: Path, model: str, tmp_path: Path) -> subprocess.Popen:
    """``photoplug index LIBRARY --model MODEL``, held still once its first batch of 8 is
    stored (the caller kills it)."""
    ready = tmp_path / "ready"
    argv = [str(Path(sys.executable).with_name("photoplug")), "index", str(library),
            "--model", model]
    run = subprocess.Popen(argv, env={**cli.env, **pause_after_rows(
        tmp_path / "pause", 8, ready, cli.env)}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        wait_for(ready.exists, "the re-index to store its first batch", timeout=240)
    except AssertionError:
        os.kill(run.pid, signal.SIGKILL)
        raise
    return run


def top_model_and_hits(cli: Cli, query: str) -> tuple[str, list[str]]:
    """The model a search says it answered with, and the names of its top 5."""
    result = cli("search", query, "--top", "5", "--all-frames", "--json", model=False)
    model = result.stderr.partition("(model ")[2].partition(" loaded in")[0]
    return model, [Path(r["path"]).name for r in json.loads(result.stdout)]


def test_a_new_model_answers_only_once_it_holds_every_photo(toy_cli: Cli, library: Path,
                                                            tmp_path: Path) -> None:
    siglip = f"local-dir:{TOY_SIGLIP}"
    toy_cli("index", str(library))
    assert vectors_of(toy_cli.index) == {"toy-clip": 20}

    # re-index with toy-siglip-ml, held still (then killed) after its first batch of 8
    run = paused_reindex(toy_cli, library, siglip, tmp_path)
    try:
        assert vectors_of(toy_cli.index)["toy-siglip-ml"] >= 8

        # meanwhile every photo is found, with the old model
        model, hits = top_model_and_hits(toy_cli, "a photo of a red circle")
        assert "toy-clip" in model
        assert sorted(hits[:5]) == [f"red_circle_{k}.jpg" for k in range(5)]
        status = toy_cli.json("status", model=False)["locations"][0]
        assert status["indexed"] == 20 and "toy-clip" in status["model"]
        upcoming = status["next_model"]
        assert "toy-siglip-ml" in upcoming["name"]
        assert upcoming["indexed"] >= 8 and upcoming["indexed"] + upcoming["missing"] == 20
        text = toy_cli("status", model=False).stdout
        assert f"of 20 photos; searches use" in text, text
    finally:
        os.kill(run.pid, signal.SIGKILL)
        run.wait(timeout=60)

    # after the kill: still the old model answers; a plain `index` resumes the new one
    assert "toy-clip" in top_model_and_hits(toy_cli, "a photo of a red circle")[0]
    resumed = toy_cli("index", str(library), model=False)
    assert "searches use this model now" in resumed.stderr + resumed.stdout
    assert vectors_of(toy_cli.index) == {"toy-clip": 20, "toy-siglip-ml": 20}
    model, hits = top_model_and_hits(toy_cli, "ein Foto von einem roten Kreis")
    assert "toy-siglip-ml" in model
    assert sorted(hits[:5]) == [f"red_circle_{k}.jpg" for k in range(5)]
    status = toy_cli.json("status", model=False)
    assert status["locations"][0]["next_model"] is None
    old = [m for m in status["models"] if "toy-clip" in m["name"]]
    assert old and old[0]["searched_by"] == [] and old[0]["vectors"] == 20
    assert "photoplug forget --model local-dir:" in toy_cli("status", model=False).stdout

    # the model searched with cannot be forgotten; the old one can, and search goes on
    refused = toy_cli("forget", "--model", siglip, model=False, check=False)
    assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1
    assert "is searched with" in refused.stderr
    toy_cli("forget")  # toy_cli adds --model toy-clip
    assert vectors_of(toy_cli.index) == {"toy-siglip-ml": 20}
    assert sorted(top_model_and_hits(toy_cli, "a photo of a red circle")[1]) == [
        f"red_circle_{k}.jpg" for k in range(5)]


def test_forgetting_the_model_being_switched_to_calls_the_switch_off(
        toy_cli: Cli, library: Path, tmp_path: Path) -> None:
    siglip = f"local-dir:{TOY_SIGLIP}"
    toy_cli("index", str(library))
    run = paused_reindex(toy_cli, library, siglip, tmp_path)
    os.kill(run.pid, signal.SIGKILL)
    run.wait(timeout=60)
    called_off = toy_cli("forget", "--model", siglip, model=False)
    assert "called off" in called_off.stderr
    assert vectors_of(toy_cli.index) == {"toy-clip": 20}
    status = toy_cli.json("status", model=False)["locations"][0]
    assert status["next_model"] is None and status["indexed"] == 20
    # a plain index now keeps the old model: nothing left to switch to
    toy_cli("index", str(library), model=False)
    assert vectors_of(toy_cli.index) == {"toy-clip": 20}


def test_forget_says_what_it_needs_in_one_line(toy_cli: Cli, library: Path) -> None:
    toy_cli("index", str(library))
    for args, words in ([("forget", "--model", "ViT-L-14"), "holds no vectors of"],
                        [("forget", str(library), "--model", "ViT-L-14"), "not both"],
                        [("forget",), "give a LOCATION"]):
        result = toy_cli(*args, model=False, check=False)
        assert result.returncode == 1, result
        assert words in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert vectors_of(toy_cli.index) == {"toy-clip": 20}
