"""Third-party plugins register through the photoplug entry-point group and take effect."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import Cli, draw_photo

THIRD_PARTY = '''
"""A third-party plugin: a 'listfile:' adapter and a re-ranker."""
import os
from pathlib import Path

from photoplug.hooks import PhotoRef, hookimpl


class ListLibrary:
    def __init__(self, listing):
        self.listing = Path(listing).resolve()
        self.uri = f"listfile:{self.listing}"

    def available(self):
        return self.listing.is_file()

    def scan(self):
        for n, line in enumerate(self.listing.read_text().splitlines()):
            path = Path(line)
            st = path.stat()
            yield PhotoRef(f"item-{n}", path, st.st_size, st.st_mtime, {"line": n})


class ListAdapter:
    scheme = "listfile"
    description = "photos named in a text file"

    def open(self, target, **options):
        return ListLibrary(target)


@hookimpl
def photoplug_adapters():
    return [ListAdapter()]


class WideTagger:
    """Tags landscape photos, from the file itself: a tagger needs no CLIP at all."""
    name = "wide"

    def tag(self, ids, vectors, encode_texts):
        assert len(ids) == len(vectors) and encode_texts(["x"]).shape[0] == 1
        return {i: ["wide"] for i in ids if i.startswith("wide")}


@hookimpl
def photoplug_taggers():
    return [WideTagger()]


@hookimpl
def photoplug_rerank(query, results):
    """Photos whose name says 'boost' go first; each result is marked as seen."""
    for r in results:
        r.host_ref = {**r.host_ref, "reranked": True}
    return sorted(results, key=lambda r: "boost" not in r.path.name)
'''


@pytest.fixture
def third_party(tmp_path: Path, cli: Cli) -> Cli:
    site = tmp_path / "site"
    site.mkdir()
    (site / "pp_thirdparty.py").write_text(THIRD_PARTY)
    dist = site / "pp_thirdparty-1.2.3.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: pp-thirdparty\n"
                                   "Version: 1.2.3\n")
    (dist / "entry_points.txt").write_text("[photoplug]\nlisting = pp_thirdparty\n")
    cli.env["PYTHONPATH"] = str(site)
    return cli


def test_builtins_are_listed_with_versions_and_hooks(cli: Cli) -> None:
    plugins = {p["name"]: p for p in cli.json("plugins", model=False)}
    assert plugins["clip"]["package"] == "photoplug"
    assert {"photoplug_index", "photoplug_search", "photoplug_load_model"} <= \
        set(plugins["clip"]["hooks"])
    assert {"photoplug_write", "photoplug_read_back"} <= set(plugins["folder"]["hooks"])


def test_third_party_adapter_and_reranker_take_effect(third_party: Cli, tmp_path: Path) -> None:
    plugins = {p["name"]: p for p in third_party.json("plugins", model=False)}
    assert plugins["listing"]["package"] == "pp-thirdparty"
    assert plugins["listing"]["version"] == "1.2.3"
    assert set(plugins["listing"]["hooks"]) == {"photoplug_adapters", "photoplug_rerank",
                                                "photoplug_taggers"}

    photos = [draw_photo(tmp_path / "p" / f"{name}.jpg", "red", "circle", seed=n,
                         size=(320, 240))
              for n, name in enumerate(["a", "b", "c", "boost-me"])]
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(str(p) for p in photos[:3] + photos[3:]))
    third_party("index", f"listfile:{listing}")
    results = third_party.json("search", "a photo of a blue square", f"listfile:{listing}",
                               "--top", "4", model=False)
    assert len(results) == 4
    assert results[0]["path"].endswith("boost-me.jpg")
    assert results[0]["rank"] == 1
    assert results[0]["host_ref"] == {"line": 3, "reranked": True}
    assert all(r["host_ref"]["reranked"] for r in results)
    assert results[0]["location"] == f"listfile:{listing}"
    assert {r["id"] for r in results} == {"item-0", "item-1", "item-2", "item-3"}


def test_third_party_tagger_adds_keywords(third_party: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    for n, name in enumerate(["wide-1", "wide-2", "tall"]):
        draw_photo(folder / f"{name}.jpg", "red", "circle", seed=n, size=(320, 240))
    vocabulary = tmp_path / "v.txt"
    vocabulary.write_text("red: a photo of a red circle\n")
    out = third_party.json("tag", str(folder), "--vocabulary", str(vocabulary),
                           "--only-mine")
    tags = {item["id"]: item["keywords"] for item in out}
    assert "wide" in tags["wide-1.jpg"] and "wide" in tags["wide-2.jpg"]
    assert "wide" not in tags.get("tall.jpg", [])
    assert "photoplug/wide" in (folder / "wide-1.jpg.xmp").read_text()
