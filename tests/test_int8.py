"""The int8 backend: close to fp32, recorded apart, never mixed with the exact vectors."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import CLASSES, draw_photo
from photoplug.api import Photoplug
from photoplug.search import parse_query


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("int8")
    for n, (colour, shape) in enumerate(CLASSES):
        draw_photo(folder / f"{colour}_{shape}.jpg", colour, shape, seed=n, size=(480, 360))
    return folder


def test_int8_embeddings_stay_close_to_fp32_and_search_the_same(
        tmp_path: Path, photos: Path, toy_model: str) -> None:
    vectors = {}
    for backend in ("torch", "int8"):
        app = Photoplug(index=tmp_path / f"{backend}.sqlite3", model=toy_model,
                        backend=backend)
        library = app.open(str(photos))
        assert app.index(library).encoded == len(CLASSES)
        engine, matrix, rows = app.library_vectors(library)
        vectors[backend] = dict(zip((r[1] for r in rows), matrix))
        hits = app.search(parse_query("a red circle"), [library.uri], top=1)
        assert hits[0].id == "red_circle.jpg"
    cosines = [float(vectors["torch"][k] @ vectors["int8"][k]) for k in vectors["torch"]]
    assert min(cosines) >= 0.99, min(cosines)


@pytest.mark.parametrize("name", ["int8", "onnx-int8"])  # onnx-int8: its older name
def test_backends_are_recorded_apart_and_never_mix(tmp_path: Path, photos: Path,
                                                   toy_model: str, name: str) -> None:
    index = tmp_path / "index.sqlite3"
    app = Photoplug(index=index, model=toy_model, backend=name)
    library = app.open(str(photos))
    app.index(library)
    recorded = Photoplug(index=index)  # no options: what the index recorded
    spec = recorded.model_for([library.uri])
    assert spec.backend == "int8" and spec.recorded_pretrained.endswith("#onnx-int8")
    assert recorded.search(parse_query("a blue square"), [library.uri], top=1)[0].id == \
        "blue_square.jpg"
    again = Photoplug(index=index, backend="torch").index(library)
    assert again.reembedded == len(CLASSES)  # fp32 vectors made anew, not reused
    db = recorded.store.db
    assert {p for _, p in db.execute("SELECT name, pretrained FROM models")} == \
        {"", "#onnx-int8"}
    assert dict(db.execute("SELECT m.pretrained, group_concat(DISTINCT e.backend) FROM "
                           "embeddings e JOIN models m ON m.id = e.model_id GROUP BY 1")) == \
        {"": "torch", "#onnx-int8": "onnx-int8"}
    assert np.isfinite([h.score for h in Photoplug(index=index).search(
        parse_query("a blue square"), [library.uri], top=3)]).all()
