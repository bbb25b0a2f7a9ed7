"""The image runtimes' one table (``image_runtimes.RUNTIMES``): the backends the CLI
offers, how each runtime's vectors are recorded, and bf16, which only a CPU with bf16
units runs and which is another model, as int8 is."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from conftest import CLASSES, draw_photo
from photoplug.api import Photoplug
from photoplug.errors import PhotoplugError
from photoplug.model import image_runtimes, machine
from photoplug.model.engine import load_engine
from photoplug.model.image_runtimes import RUNTIMES, installed, kind_of
from photoplug.model.spec import BACKENDS, ModelSpec

BF16_FLAGS = {"avx512_bf16", "amx_bf16"}


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def test_the_backends_are_the_tables() -> None:
    assert BACKENDS == ("auto", "torch", "openvino", "onnx", "int8", "bf16", "onnx-int8")
    recorded = [kind.recorded for kind in RUNTIMES.values()]
    assert len(set(recorded)) == len(recorded)
    for kind in RUNTIMES.values():  # every runtime opens through a function of its module
        module, _, function = kind.opener.partition(":")
        assert callable(getattr(__import__(f"photoplug.model.{module}", fromlist=["x"]),
                                function))
        assert kind_of(kind.recorded) is kind and kind_of(kind.name) is kind
    assert image_runtimes.EXACT == ("openvino", "onnx")


@pytest.mark.parametrize("backend, tag", [("auto", ""), ("torch", ""), ("openvino", ""),
                                          ("onnx", ""), ("int8", "#onnx-int8"),
                                          ("onnx-int8", "#onnx-int8"),
                                          ("bf16", "#openvino-bf16")])
def test_only_exact_runtimes_share_the_models_identity(backend: str, tag: str) -> None:
    spec = ModelSpec.build("ViT-B-32", "openai", None, backend)
    assert spec.recorded_pretrained == f"openai{tag}"
    back = ModelSpec.from_recorded(spec.name, spec.recorded_pretrained)
    assert back.backend == (spec.backend if tag else "auto")
    assert (f"[{spec.backend}]" in spec.label) == bool(tag)


def test_a_cpu_without_bf16_refuses_it_in_one_sentence(
        tmp_path: Path, toy_model: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(machine, "cpu_flags", lambda: frozenset({"avx2", "fma"}))
    spec = ModelSpec.build(toy_model, None, None, "bf16")
    with pytest.raises(PhotoplugError) as caught:
        load_engine(spec, "cpu")
    message = str(caught.value)
    assert message == ("--backend bf16 needs a CPU with bf16 units (AVX-512 BF16 or AMX), "
                       "which this one lacks; use --backend auto")
    photos = tmp_path / "photos"
    draw_photo(photos / "red_circle.jpg", "red", "circle", seed=0, size=(320, 240))
    app = Photoplug(index=tmp_path / "index.sqlite3", model=toy_model, backend="bf16")
    with pytest.raises(PhotoplugError, match="needs a CPU with bf16 units"):
        app.index(app.open(str(photos)))


@pytest.mark.skipif(not installed("bf16"), reason="OpenVINO is not installed")
def test_bf16_vectors_are_another_models_and_close_to_fp32(
        tmp_path: Path, toy_model: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if not machine.cpu_flags() & BF16_FLAGS:  # OpenVINO then computes in f32: the
        monkeypatch.setattr(machine, "cpu_flags",  # identity is still what is tested
                            lambda: frozenset({"avx512_bf16"}))
    photos, index = tmp_path / "photos", tmp_path / "index.sqlite3"
    for n, (colour, shape) in enumerate(CLASSES[:4]):
        draw_photo(photos / f"{colour}_{shape}.jpg", colour, shape, seed=n, size=(320, 240))
    vectors = {}
    for backend in ("torch", "bf16"):
        app = Photoplug(index=index, model=toy_model, backend=backend)
        library = app.open(str(photos))
        assert app.index(library).encoded == 4  # bf16 re-embeds: another model
        engine, matrix, rows = app.library_vectors(library)
        vectors[backend] = dict(zip((r[1] for r in rows), matrix))
    with sqlite3.connect(index) as db:
        assert dict(db.execute("SELECT m.pretrained, group_concat(DISTINCT e.backend) FROM "
                               "embeddings e JOIN models m ON m.id = e.model_id GROUP BY 1")
                    ) == {"": "torch", "#openvino-bf16": "openvino-bf16"}
    cosines = [float(vectors["torch"][k] @ vectors["bf16"][k]) for k in vectors["torch"]]
    assert min(cosines) >= 0.99, min(cosines)
    assert np.isfinite(list(cosines)).all()
