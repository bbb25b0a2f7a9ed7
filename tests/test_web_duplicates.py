"""The page's duplicates view in a real headless Chromium: groups side by side, the copy
to keep marked, and its API."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from conftest import Cli
from photo_factory import scene
from test_web import Library, Served, chromium_page, get, needs_chromium, serving


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, toy_model: str) -> Iterator[Served]:
    """A photo with a half-size and a quality-60 copy, a look-alike (the same class on
    another landscape) and another photo."""
    root = tmp_path_factory.mktemp("web-duplicates")
    photos = root / "photos"
    photos.mkdir()
    place = (0.4, 0.5, 0.25)
    original = scene("red", "circle", (1600, 1200), np.random.default_rng(1), place)
    original.save(photos / "original.jpg", quality=92)
    original.resize((800, 600)).save(photos / "half.jpg", quality=90)
    original.save(photos / "q60.jpg", quality=60)
    scene("red", "circle", (1600, 1200), np.random.default_rng(2), place).save(
        photos / "lookalike.jpg", quality=92)
    scene("blue", "square", (1600, 1200), np.random.default_rng(3)).save(
        photos / "other.jpg", quality=92)
    albums = root / "albums.toml"
    albums.write_text('[[album]]\nname = "red things"\nprompts = ["a photo of a red circle"]\n')
    cli = Cli(root / "index.sqlite3", toy_model)
    cli("index", str(photos))
    env = {**cli.env, "PHOTOPLUG_CACHE": str(root / "cache")}
    env.pop("PHOTOPLUG_TOKEN", None)
    with serving(Library(root, photos, albums, env)) as server:
        yield server


def test_api_lists_the_group_with_the_copy_to_keep(served: Served) -> None:
    status, body, _ = get(served.base + "api/duplicates")
    assert status == 200
    groups = json.loads(body)
    assert [sorted(Path(m["path"]).name for m in g["members"]) for g in groups] == [
        ["half.jpg", "original.jpg", "q60.jpg"]]
    keep = [m for m in groups[0]["members"] if m["keep"]]
    assert [Path(m["path"]).name for m in keep] == ["original.jpg"]
    assert keep[0]["thumb"].startswith("/thumb/0/") and "most pixels" in groups[0]["reason"]
    status, body, _ = get(served.base + "api/duplicates?location=folder:/elsewhere")
    assert status == 400 and "unknown location" in json.loads(body)["error"]


@needs_chromium
def test_the_page_shows_groups_side_by_side(served: Served) -> None:
    with chromium_page(served) as (page, _, errors):
        page.goto(served.url)
        page.click("#find-duplicates")
        page.wait_for_selector("#duplicates .shot figure", timeout=60000)
        figures = page.locator("#duplicates .shot figure")
        assert figures.count() == 3
        kept = page.locator("#duplicates .shot figure.keep")
        assert kept.count() == 1
        assert kept.locator("img").get_attribute("alt").endswith(os.sep + "original.jpg")
        assert kept.locator(".score").text_content() == "keep"
        assert "keep original.jpg: the most pixels" in page.locator(".why").text_content()
        boxes = [figures.nth(n).bounding_box() for n in range(3)]
        assert len({round(b["y"]) for b in boxes}) == 1  # one row: side by side
        page.wait_for_function("() => [...document.querySelectorAll('#duplicates img')]"
                               ".every(i => i.complete && i.naturalWidth > 0)", timeout=30000)
        assert errors == []
