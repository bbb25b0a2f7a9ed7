"""An app gives back the files it opened (its index, the models' mapped towers) when it
is closed, and when it is dropped without waiting for a full garbage collection: a
process that makes many apps (the library API, a test run) keeps few descriptors open,
and exiftool's pipes (read with ``select()`` by pyexiftool) stay numbered below 1024."""
from __future__ import annotations

import gc
import os
from contextlib import suppress
from pathlib import Path

import platformdirs
import pytest

from conftest import draw_photo
from photoplug.api import Photoplug
from photoplug.search import parse_query

FDS = Path("/proc/self/fd")
pytestmark = pytest.mark.skipif(not FDS.is_dir(), reason="counts descriptors in /proc (Linux)")


def open_files(*folders: Path) -> list[str]:
    """The files under ``folders`` this process has open (mapped arrays included)."""
    found = []
    for fd in FDS.iterdir():
        with suppress(OSError):  # the listing's own descriptor is gone by now
            target = os.readlink(fd)
            if any(target.startswith(f"{folder}{os.sep}") for folder in folders):
                found.append(target)
    return found


def test_an_app_gives_back_its_files_when_closed_and_when_dropped(tmp_path: Path,
                                                                  toy_model: str) -> None:
    photos = tmp_path / "photos"
    for n, colour in enumerate(["red", "blue", "green"]):
        draw_photo(photos / f"{colour}.jpg", colour, "circle", seed=n, size=(480, 360))
    cache = Path(platformdirs.user_cache_dir("photoplug"))
    watched = (tmp_path, cache / "text-towers", cache / "image-towers")
    gc.collect()  # whatever earlier tests left to the collector (a raised error's frames)
    before = sorted(open_files(*watched))  # the same towers, mapped by another app

    with Photoplug(index=tmp_path / "index.sqlite3", model=toy_model, device="cpu") as app:
        library = app.open(str(photos))
        app.index(library)
        assert app.search(parse_query("a red circle"), [library.uri], top=1)[0].id == "red.jpg"
        assert any(f.endswith("index.sqlite3") for f in open_files(*watched))
    assert sorted(open_files(*watched)) == before, "closing the app closes its files"

    gc.disable()  # dropped: given back at once, not at the next full collection
    try:
        app = Photoplug(index=tmp_path / "index.sqlite3", device="cpu")
        assert app.search(parse_query("a red circle"), [library.uri], top=1)[0].id == "red.jpg"
        mapped = open_files(cache / "text-towers")
        assert len(mapped) > len([f for f in before if f in mapped]), \
            "a text search maps the saved text tower"
        del app
        assert sorted(open_files(*watched)) == before
    finally:
        gc.enable()
