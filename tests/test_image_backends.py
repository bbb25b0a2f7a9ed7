"""Image backends: exact runtimes are one model, checked against torch when exported,
chosen by measurement once per machine, and indexing runs without torch once exported."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import TOY_CLIP, Cli, draw_photo
from photoplug.model import image_runtimes
from photoplug.model import image_tower
from photoplug.model import machine
from photoplug.api import Photoplug
from photoplug.model.engine import load_engine
from photoplug.errors import PhotoplugError
from photoplug.model.image_runtimes import EXACT, installed
from photoplug.model.spec import ModelSpec, file_digest

EXPORTED = [r for r in EXACT if installed(r)]
needs_a_runtime = pytest.mark.skipif(not EXPORTED, reason="neither OpenVINO nor ONNX Runtime")
SHAPES = [("red", "circle"), ("blue", "square"), ("green", "triangle"), ("yellow", "circle"),
          ("purple", "square"), ("orange", "triangle")]


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test its own user cache (exported towers, the runtime measured fastest), here
    and in its subprocesses: what one test measures or chooses (``choose``) is never what
    a later one finds, whatever the order. Autouse: in place before ``toy_cli`` copies the
    environment."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache


def add_photos(folder: Path, count: int, start: int = 0) -> None:
    for n in range(start, start + count):
        colour, shape = SHAPES[n % len(SHAPES)]
        draw_photo(folder / f"{n:02}_{colour}_{shape}.jpg", colour, shape, seed=n,
                   size=(400, 300))


def backends_of(index: Path) -> dict[str, int]:
    with sqlite3.connect(index) as db:
        return dict(db.execute("SELECT backend, count(*) FROM embeddings GROUP BY 1"))


def toy_tower() -> image_tower.ImageTower | None:
    return image_tower.ImageTower.load(file_digest(TOY_CLIP / "open_clip_model.safetensors"))


def choose(runtime: str) -> None:
    """Record ``runtime`` as this machine's fastest for toy-clip (what a probe would do)."""
    tower = toy_tower()
    assert tower is not None
    tower.fastest[machine.signature()] = {"runtime": runtime}
    tower.save()


@needs_a_runtime
def test_exact_backends_are_one_model_and_int8_another(tmp_path: Path, toy_model: str
                                                       ) -> None:
    photos, index = tmp_path / "photos", tmp_path / "index.sqlite3"
    add_photos(photos, 4)
    assert Photoplug(index=index, model=toy_model, backend="torch").index(
        Photoplug(index=index).open(str(photos))).encoded == 4
    for n, backend in enumerate(["auto", *EXPORTED], start=4):
        add_photos(photos, 1, start=n)  # one new photo per backend
        app = Photoplug(index=index, backend=backend)  # the model the index recorded
        report = app.index(app.open(str(photos)))
        assert (report.encoded, report.reembedded, report.unchanged) == (1, 0, n)
    recorded = backends_of(index)
    assert recorded["torch"] >= 4 and sum(recorded.values()) == 4 + 1 + len(EXPORTED)
    assert set(recorded) <= {"torch", *EXPORTED} and set(EXPORTED) <= set(recorded)
    int8 = Photoplug(index=index, backend="int8")
    assert int8.index(int8.open(str(photos))).reembedded == 5 + len(EXPORTED)
    with sqlite3.connect(index) as db:
        assert db.execute("SELECT count(*) FROM models").fetchone()[0] == 2


def test_an_index_from_before_backends_were_recorded_keeps_its_vectors(
        tmp_path: Path, toy_model: str) -> None:
    photos, index = tmp_path / "photos", tmp_path / "torch.sqlite3"
    add_photos(photos, 3)
    for backend in ("torch", "int8"):
        app = Photoplug(index=tmp_path / f"{backend}.sqlite3", model=toy_model,
                        backend=backend)
        app.index(app.open(str(photos)))
        app.store.close()
    with sqlite3.connect(index) as db:  # one index with both models, as schema 3 had it
        db.execute("ATTACH ? AS other", (str(tmp_path / "int8.sqlite3"),))
        db.execute("INSERT INTO models(name, pretrained, weights_hash, dim) SELECT name, "
                   "pretrained, weights_hash, dim FROM other.models")
        db.execute("INSERT INTO embeddings(model_id, hash, vector) SELECT m.id, e.hash, "
                   "e.vector FROM other.embeddings e JOIN other.models o ON o.id = e.model_id"
                   " JOIN models m ON m.pretrained = o.pretrained")
        db.execute("ALTER TABLE embeddings DROP COLUMN backend")
        db.execute("DROP TABLE frames")  # schema 5's (its triggers go with it)
        db.execute("DROP TABLE texts_fts")  # schema 6's
        db.execute("DROP TABLE texts")
        db.execute("DROP TABLE looks")  # schema 7's
        db.execute("ALTER TABLE locations DROP COLUMN next_model_id")
        db.execute("PRAGMA user_version = 3")
    app = Photoplug(index=index)
    app.store  # opening it migrates it
    assert backends_of(index) == {"torch": 3, "onnx-int8": 3}
    report = app.index(app.open(str(photos)))  # auto: the torch vectors stand
    assert (report.encoded, report.unchanged) == (0, 3)


@needs_a_runtime
def test_a_runtime_that_differs_from_torch_is_refused(
        tmp_path: Path, tiny_model: str, monkeypatch: pytest.MonkeyPatch,
        capfd: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(image_tower, "min_cosine", lambda a, b: 0.9999)
    engine = load_engine(ModelSpec.build(tiny_model, None, None), "cpu")
    assert engine.image_backend == "torch" and engine.runtime is None
    assert "does not reproduce the image model exactly" in capfd.readouterr().err
    tower = image_tower.ImageTower.load(engine.identity.weights_hash)
    assert tower is not None and tower.cosines == {r: 0.9999 for r in EXPORTED}
    with pytest.raises(PhotoplugError, match=f"the {EXPORTED[0]} runtime cannot run"):
        load_engine(ModelSpec.build(tiny_model, None, None, EXPORTED[0]), "cpu")


def test_without_a_runtime_auto_is_torch_and_asking_for_one_says_how(
        tmp_path: Path, tiny_model: str, monkeypatch: pytest.MonkeyPatch,
        capfd: pytest.CaptureFixture[str]) -> None:
    for module in (image_tower, image_runtimes):
        monkeypatch.setattr(module, "installed", lambda name: False)
    engine = load_engine(ModelSpec.build(tiny_model, None, None), "cpu")
    assert engine.image_backend == "torch"
    assert "neither OpenVINO nor ONNX Runtime is installed" in capfd.readouterr().err
    with pytest.raises(PhotoplugError, match="needs openvino: pip install openvino"):
        load_engine(ModelSpec.build(tiny_model, None, None, "openvino"), "cpu")


@needs_a_runtime
def test_the_fastest_runtime_is_measured_once_per_machine(
        tmp_path: Path, tiny_model: str, monkeypatch: pytest.MonkeyPatch) -> None:
    measured: list[list[str]] = []
    measure = image_tower.ImageTower.measure

    def spy(tower: image_tower.ImageTower, encoders: dict) -> str:
        measured.append(sorted(encoders))
        return measure(tower, encoders)

    monkeypatch.setattr(image_tower.ImageTower, "measure", spy)
    spec = ModelSpec.build(tiny_model, None, None)
    first = load_engine(spec, "cpu")
    assert load_engine(spec, "cpu").image_backend == first.image_backend
    assert measured == [sorted([*EXPORTED, "torch"])]
    here = machine.signature()
    monkeypatch.setattr(machine, "signature", lambda: "another-cpu")
    load_engine(spec, "cpu")
    assert len(measured) == 2
    tower = image_tower.ImageTower.load(first.identity.weights_hash)
    assert tower is not None and set(tower.fastest) == {"another-cpu", here}
    assert first.image_backend in {*EXPORTED, "torch"}


def index_in_a_new_process(cli: Cli, *args: str) -> tuple[dict, bool]:
    """``photoplug index`` in a fresh interpreter: its JSON report, and whether it
    imported torch or open_clip."""
    probe = ("import sys, json; from photoplug.cli import main\n"
             "try:\n    main()\nexcept SystemExit:\n    pass\n"
             "print(json.dumps(any(m in sys.modules for m in ('torch', 'open_clip'))),"
             " file=sys.stderr)")
    run = subprocess.run([sys.executable, "-c", probe, "index", *args, "--json"],
                         capture_output=True, text=True, env=cli.env, check=True)
    return json.loads(run.stdout), json.loads(run.stderr.strip().splitlines()[-1])


@needs_a_runtime
@pytest.mark.parametrize("backend", ["auto", *EXPORTED, "int8"])
def test_index_runs_without_torch_once_exported(toy_cli: Cli, tmp_path: Path, own_cache: Path,
                                                backend: str) -> None:
    assert toy_cli.env["XDG_CACHE_HOME"] == str(own_cache)  # its choice stays in this test
    photos = tmp_path / "photos"
    add_photos(photos, 3)
    toy_cli("index", str(photos), "--backend", backend)  # the first run exports
    choose(EXPORTED[0])  # whatever the probe measured, auto now means an exported runtime
    add_photos(photos, 2, start=3)
    report, imported = index_in_a_new_process(toy_cli, str(photos), "--backend", backend,
                                              "--model", str(toy_cli.model))
    assert (report["encoded"], report["unchanged"]) == (2, 3) and not imported
    fresh = Cli(tmp_path / "another.sqlite3", toy_cli.model)  # the export knows the model
    report, imported = index_in_a_new_process(fresh, str(photos), "--backend", backend,
                                              "--model", str(toy_cli.model))
    assert report["encoded"] == 5 and not imported

    app = Photoplug(index=tmp_path / "another.sqlite3")
    engine, matrix, rows = app.library_vectors(app.open(str(photos)))
    reference = load_engine(ModelSpec.build(str(toy_cli.model), None, None, "torch"), "cpu")
    from PIL import Image
    expected = reference.encode_images([Image.open(r[0]).convert("RGB") for r in rows])
    cosines = (matrix * expected).sum(axis=1)
    assert cosines.min() >= (0.99 if backend == "int8" else 0.9999), cosines.min()
    assert np.isfinite(matrix).all()
