"""Re-runs are incremental; model changes re-embed; offline roots keep their photos."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conftest import draw_photo
from photoplug.api import Photoplug
from photoplug.errors import IndexFileError, PhotoplugError
from photoplug.hooks import LocationError
from photoplug.search import parse_query
from photoplug.model.spec import ModelSpec


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    for n, (colour, shape) in enumerate([("red", "circle"), ("blue", "square"),
                                         ("green", "triangle"), ("yellow", "circle")]):
        draw_photo(folder / "sub" / f"{colour}.jpg", colour, shape, seed=n, size=(480, 360))
    return folder


def app_for(tmp_path: Path, model: str) -> Photoplug:
    return Photoplug(index=tmp_path / "index.sqlite3", model=model, device="cpu")


def test_new_changed_moved_deleted(tmp_path: Path, photos: Path, tiny_model: str) -> None:
    app = app_for(tmp_path, tiny_model)
    library = app.open(str(photos))
    first = app.index(library)
    assert (first.new, first.encoded, first.total) == (4, 4, 4)

    draw_photo(photos / "sub" / "red.jpg", "purple", "square", seed=9, size=(480, 360))
    os.utime(photos / "sub" / "red.jpg", (1, 1))
    (photos / "moved").mkdir()
    shutil.move(photos / "sub" / "blue.jpg", photos / "moved" / "blue.jpg")
    (photos / "sub" / "green.jpg").unlink()
    draw_photo(photos / "new.jpg", "orange", "triangle", seed=10, size=(480, 360))

    second = app.index(library)
    assert (second.changed, second.moved, second.deleted, second.new, second.unchanged) == \
        (1, 1, 1, 1, 1)
    assert second.encoded == 2, "a moved photo is never re-encoded"
    ids = {r.id for r in app.search(parse_query("a photo"), [library.uri], top=10)}
    assert ids == {"sub/red.jpg", "moved/blue.jpg", "sub/yellow.jpg", "new.jpg"}


def test_model_change_re_embeds_and_never_mixes(tmp_path: Path, photos: Path,
                                                tiny_model: str, toy_model: str) -> None:
    tiny = app_for(tmp_path, tiny_model)
    library = tiny.open(str(photos))
    tiny.index(library)
    toy = app_for(tmp_path, toy_model)
    report = toy.index(library)
    assert report.reembedded == 4 and report.encoded == 4
    # without --model, search uses the model the location was last indexed with
    recorded = Photoplug(index=tmp_path / "index.sqlite3", device="cpu")
    assert recorded.model_for([library.uri]) == ModelSpec.build(toy_model, None, None)
    best = recorded.search(parse_query("a photo of a red circle"), [library.uri], top=1)
    assert best[0].id == "sub/red.jpg"


def test_missing_root_is_kept_offline(tmp_path: Path, photos: Path, tiny_model: str) -> None:
    app = app_for(tmp_path, tiny_model)
    library = app.open(str(photos))
    app.index(library)
    photos.rename(tmp_path / "unmounted")
    report = app.index(library)
    assert not report.online
    (row,) = app.store.locations()
    assert row["online"] is False and row["indexed"] == 4
    assert len(app.search(parse_query("a photo"), [library.uri], top=10)) == 4

    never = app.open(str(tmp_path / "never-existed"))
    with pytest.raises(LocationError, match="does not exist"):
        app.index(never)


def test_second_writer_is_refused(tmp_path: Path, photos: Path, tiny_model: str) -> None:
    app = app_for(tmp_path, tiny_model)
    library = app.open(str(photos))
    app.index(library)
    other = app_for(tmp_path, tiny_model)
    with other.store.writer():
        with pytest.raises(IndexFileError, match="another photoplug run"):
            app.index(library)


def test_forget_drops_location_and_embeddings(tmp_path: Path, photos: Path,
                                              tiny_model: str) -> None:
    app = app_for(tmp_path, tiny_model)
    library = app.open(str(photos))
    app.index(library)
    assert app.store.forget(app.store.location_id(library.uri)) == 4
    assert app.store.locations() == []
    assert app.store.db.execute("SELECT count(*) FROM embeddings").fetchone()[0] == 0


def test_relative_and_home_paths_are_the_same_library(tmp_path: Path, tiny_model: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    app = app_for(tmp_path, tiny_model)
    (tmp_path / "Pictures").mkdir()
    uris = {app.open(loc).uri for loc in ["~/Pictures", "Pictures", "./Pictures/",
                                          f"folder:{tmp_path}/Pictures", "folder:Pictures"]}
    assert uris == {f"folder:{tmp_path}/Pictures"}


def test_corrupt_and_newer_index_files_are_refused(tmp_path: Path, tiny_model: str) -> None:
    bad = tmp_path / "bad.sqlite3"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(PhotoplugError, match="not a usable photoplug index"):
        Photoplug(index=bad).store
    newer = tmp_path / "newer.sqlite3"
    import sqlite3
    with sqlite3.connect(newer) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(PhotoplugError, match="newer photoplug"):
        Photoplug(index=newer).store


def test_exclude_globs_and_hidden_entries(tmp_path: Path, photos: Path) -> None:
    draw_photo(photos / "raw-exports" / "x.jpg", "red", "circle", seed=1, size=(100, 80))
    draw_photo(photos / ".thumbs" / "t.jpg", "red", "circle", seed=1, size=(100, 80))
    app = Photoplug(index=tmp_path / "i.sqlite3")
    ids = lambda **opts: {r.stable_id for r in app.open(str(photos), **opts).scan()}  # noqa
    assert ids() == {"sub/red.jpg", "sub/blue.jpg", "sub/green.jpg", "sub/yellow.jpg",
                     "raw-exports/x.jpg"}
    assert ids(exclude=["raw-*"]) == ids() - {"raw-exports/x.jpg"}
    assert ids(exclude=["*/blue.jpg", "green.jpg"]) == ids() - {"sub/blue.jpg",
                                                                "sub/green.jpg"}
    assert ".thumbs/t.jpg" in ids(include_hidden=True)


def test_search_matrix_is_a_cache_file_rebuilt_when_the_index_changes(
        tmp_path: Path, photos: Path, tiny_model: str) -> None:
    import numpy as np
    first = app_for(tmp_path, tiny_model)
    library = first.open(str(photos))
    first.index(library)  # also writes the caches the next search wants
    cache = tmp_path / "index.sqlite3.cache"
    files = sorted(p.name for p in cache.iterdir())
    assert len(files) == 2 and files[0].endswith(".ids.npy")

    reader = app_for(tmp_path, tiny_model)  # a second process, as a CLI search is
    location = reader.store.location_id(library.uri)
    model_id = reader.store.find_model_id(*[getattr(reader.engine(reader.requested).identity,
                                                    k) for k in ("name", "pretrained",
                                                                 "weights_hash")])
    mat, ids = reader.store.vectors([location], model_id)
    assert isinstance(mat, np.memmap) and mat.dtype == np.float32 and len(ids) == 4
    assert sorted(p.name for p in cache.iterdir()) == files  # read, not rebuilt

    draw_photo(photos / "new.jpg", "blue", "circle", seed=7, size=(480, 360))
    first.index(library)  # another writer changes the index
    mat2, ids2 = reader.store.vectors([location], model_id)
    assert len(ids2) == 5 and isinstance(mat2, np.memmap)
    assert not set(files) & {p.name for p in cache.iterdir()}  # the stale files are gone
    hits = reader.search(parse_query("anything"), [library.uri], top=10)
    assert {h.id for h in hits} == {"new.jpg", "sub/red.jpg", "sub/blue.jpg", "sub/green.jpg",
                                    "sub/yellow.jpg"}
