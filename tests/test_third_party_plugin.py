"""The contract suffices: a third-party distribution, written and installed at test time,
adds a host ("shoebox:") and a subcommand using only ``photoplug.hooks`` and click; index,
search, albums sync (with a correction), undo, serve and its own command all work on it.

The distribution is a package beside its ``.dist-info`` (METADATA and entry_points.txt)
in a temporary folder on PYTHONPATH: importlib.metadata finds it as it finds any
installed distribution, so pluggy loads it through the ``photoplug`` entry-point group.
"""
from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from conftest import CLASSES, Cli, draw_photo

# -- the third party's distribution ------------------------------------------------------

PLUGIN = '''
"""shoebox: a made-up photo manager whose library is a manifest (JSON) listing the photos
of a folder, and whose own database (``shoebox-db.json`` beside it) holds albums and
keywords. photoplug's albums and keywords live there under "photoplug/".

Imports nothing of photoplug's but its public contract, ``photoplug.hooks``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import click

from photoplug.hooks import (HostState, LocationError, PhotoRef, WritePlan, WriteReport,
                             hookimpl)
from photoplug.hooks.protocols import Corrected, Rooted

NS = "photoplug/"


def load_json(path, default):
    return json.loads(path.read_text()) if path.exists() else default


class ShoeboxLibrary:
    def __init__(self, manifest):
        self.manifest = Path(os.path.abspath(Path(manifest).expanduser()))
        self.uri = f"shoebox:{self.manifest}"
        self.box = self.manifest.parent
        self.db_path = self.box / "shoebox-db.json"

    # Library
    def _listing(self):
        data = json.loads(self.manifest.read_text())
        return self.box / data["folder"], list(data["photos"])

    def available(self):
        return self.manifest.is_file()

    def scan(self):
        folder, names = self._listing()
        for name in names:
            path = folder / name
            try:
                st = path.stat()
            except OSError:
                yield PhotoRef(name, path, 0, 0.0, {"shoebox": name},
                               problem="listed in the manifest but not in the shoebox")
                continue
            yield PhotoRef(name, path, st.st_size, st.st_mtime, {"shoebox": name})

    # Rooted: the page serves files inside these folders only
    def roots(self):
        return [self._listing()[0]]

    # Corrected: photoplug keeps its record of what it wrote here
    @property
    def ledger_path(self):
        return self.box / ".photoplug-shoebox" / "ledger.json"

    # the host's own database
    def db(self):
        return load_json(self.db_path, {"albums": {}, "keywords": {}})

    def save(self, db):
        tmp = self.db_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(db, indent=1, sort_keys=True))
        tmp.replace(self.db_path)

    def write(self, plan, options):
        db, report = self.db(), WriteReport(dry_run=options.dry_run)
        for sid, words in sorted(plan.add_keywords.items()):
            have = db["keywords"].setdefault(sid, [])
            for word in sorted(words):
                if NS + word not in have:
                    have.append(NS + word)
                    report.changes.append(f"{sid}: + keyword {word}")
        for sid, words in sorted(plan.remove_keywords.items()):
            have = db["keywords"].get(sid, [])
            for word in sorted(words):
                if NS + word in have:
                    have.remove(NS + word)
                    report.changes.append(f"{sid}: - keyword {word}")
        for name, members in sorted(plan.albums.items()):
            before = set(db["albums"].get(NS + name, []))
            for sid in sorted(before - set(members)):
                report.changes.append(f"album {name}: - {sid}")
            for sid in sorted(set(members) - before):
                report.changes.append(f"album {name}: + {sid}")
            db["albums"][NS + name] = sorted(members)
        if not options.dry_run:
            self.save(db)
        return report

    def read_back(self, expected):
        db = self.db()
        keywords = {}
        for word in expected.keywords:
            keywords[word] = {sid for sid, have in db["keywords"].items() if NS + word in have}
        return HostState({name: set(db["albums"].get(NS + name, []))
                          for name in expected.albums}, keywords)

    def undo(self, options):
        db, report = self.db(), WriteReport(dry_run=options.dry_run)
        for name in sorted(db["albums"]):
            if name.startswith(NS):
                report.changes.append(f"remove album {name[len(NS):]}")
                del db["albums"][name]
        for sid, have in sorted(db["keywords"].items()):
            mine = [w for w in have if w.startswith(NS)]
            for word in mine:
                report.changes.append(f"{sid}: - keyword {word[len(NS):]}")
                have.remove(word)
        if not options.dry_run and report.changes:
            self.save(db)
        return report


class ShoeboxAdapter:
    scheme = "shoebox"
    description = "a shoebox manifest (JSON) and its database"

    def open(self, target, **options):
        if not target.strip():
            raise LocationError("shoebox: needs a manifest file")
        library = ShoeboxLibrary(target)
        if library.manifest.exists() and not library.manifest.is_file():
            raise LocationError(f"{target} is not a shoebox manifest")
        return library


@hookimpl
def photoplug_adapters():
    return [ShoeboxAdapter()]


@hookimpl
def photoplug_write(library, plan, options):
    return library.write(plan, options) if isinstance(library, ShoeboxLibrary) else None


@hookimpl
def photoplug_read_back(library, expected):
    return library.read_back(expected) if isinstance(library, ShoeboxLibrary) else None


@hookimpl
def photoplug_undo(library, options):
    return library.undo(options) if isinstance(library, ShoeboxLibrary) else None


@click.group("shoebox")
def shoebox():
    """The shoebox host's own commands."""


@shoebox.command("count")
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True)
def count(manifest, as_json):
    """How many photos MANIFEST lists, and how many are in photoplug's albums."""
    library = ShoeboxLibrary(manifest)
    refs = list(library.scan())
    albums = {name[len(NS):]: len(ids) for name, ids in library.db()["albums"].items()
              if name.startswith(NS)}
    out = {"photos": len(refs), "readable": sum(r.problem is None for r in refs),
           "albums": albums,
           "protocols": sorted(p.__name__ for p in (Rooted, Corrected)
                               if isinstance(library, p))}
    click.echo(json.dumps(out) if as_json else f"{out['photos']} photos")


@hookimpl
def photoplug_commands(cli):
    cli.add_command(shoebox)
'''

DIST = "shoebox_photoplug"
VERSION = "0.1"


def write_distribution(site: Path) -> None:
    """The package and its .dist-info, as ``pip install`` would leave them in site-packages."""
    package = site / DIST
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('"""A shoebox host for photoplug."""\n')
    (package / "plugin.py").write_text(PLUGIN)
    info = site / f"{DIST}-{VERSION}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: shoebox-photoplug\n"
                                   f"Version: {VERSION}\nRequires-Dist: photoplug\n"
                                   f"Requires-Dist: click\n")
    (info / "entry_points.txt").write_text(f"[photoplug]\nshoebox = {DIST}.plugin\n")
    (info / "top_level.txt").write_text(f"{DIST}\n")
    (info / "RECORD").write_text("")


# -- the library the tests share -----------------------------------------------------------

ALBUM = "red things"
COLOURS = sorted({c for c, _ in CLASSES})
SHAPES = sorted({s for _, s in CLASSES})
# what toy-clip's pictures may show (as tests/test_albums.py gives it)
VOCABULARY = "".join(
    [f"{c}: " + " | ".join(f"a photo of a {c} {s}" for s in SHAPES) + "\n" for c in COLOURS]
    + [f"{s}: " + " | ".join(f"a photo of a {c} {s}" for c in COLOURS) + "\n" for s in SHAPES])


@dataclass(frozen=True)
class Shoebox:
    cli: Cli
    manifest: Path
    location: str
    db: Path
    albums: Path
    site: Path
    vocabulary: Path

    def sync(self, *args: str) -> Any:
        return self.cli("albums", "sync", self.location, "--albums", str(self.albums),
                        "--vocabulary", str(self.vocabulary), "--only-mine", *args)

    def read_db(self) -> dict[str, Any]:
        return json.loads(self.db.read_text()) if self.db.exists() else {}


@pytest.fixture(scope="module")
def shoebox(tmp_path_factory: pytest.TempPathFactory, toy_model: str) -> Shoebox:
    root = tmp_path_factory.mktemp("shoebox")
    site = root / "site"
    write_distribution(site)
    box = root / "box"
    names = []
    for n, (colour, shape) in enumerate(CLASSES):
        names.append(f"{colour}_{shape}.jpg")
        draw_photo(box / "pics" / names[-1], colour, shape, seed=11 * n, size=(480, 360))
    manifest = box / "manifest.json"
    manifest.write_text(json.dumps({"folder": "pics", "photos": names + ["lost.jpg"]}))
    # the user's own album and keyword in the host's database: photoplug must keep them
    db = box / "shoebox-db.json"
    db.write_text(json.dumps({"albums": {"Holiday": ["blue_square.jpg"]},
                              "keywords": {"red_circle.jpg": ["mine"]}}))
    albums = root / "albums.toml"
    albums.write_text(f'[[album]]\nname = "{ALBUM}"\nprompts = ["a photo of a red circle", '
                      f'"a photo of a red square", "a photo of a red triangle"]\n')
    vocabulary = root / "toy.txt"
    vocabulary.write_text(VOCABULARY)
    cli = Cli(root / "index.sqlite3", toy_model)
    cli.env["PYTHONPATH"] = str(site)
    cli.env["PHOTOPLUG_CACHE"] = str(root / "cache")
    cli.env.pop("PHOTOPLUG_TOKEN", None)
    return Shoebox(cli, manifest, f"shoebox:{manifest}", db, albums, site, vocabulary)


@pytest.fixture(scope="module")
def indexed(shoebox: Shoebox) -> Shoebox:
    report = json.loads(shoebox.cli("index", shoebox.location, "--json").stdout)
    assert report["encoded"] == len(CLASSES), report
    [skipped] = report["skipped"]
    assert Path(skipped["path"]) == shoebox.manifest.parent / "pics" / "lost.jpg", report
    assert skipped["reason"] == "listed in the manifest but not in the shoebox"
    return shoebox


# -- the tests ------------------------------------------------------------------------------

def test_the_plugin_module_needs_only_the_public_contract(shoebox: Shoebox) -> None:
    """Importing the plugin loads photoplug.hooks and nothing else of photoplug's."""
    code = ("import sys, shoebox_photoplug.plugin\n"
            "print(sorted(m for m in sys.modules if m == 'photoplug' "
            "or m.startswith('photoplug.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=shoebox.cli.env, check=True, timeout=120).stdout
    loaded = json.loads(out.replace("'", '"'))
    assert loaded and all(m == "photoplug" or m == "photoplug.hooks"
                          or m.startswith("photoplug.hooks.") for m in loaded), loaded


def test_plugins_lists_the_distribution_and_its_adapter(shoebox: Shoebox) -> None:
    plugins = {p["name"]: p for p in shoebox.cli.json("plugins", model=False)}
    mine = plugins["shoebox"]
    assert mine["package"] == "shoebox-photoplug" and mine["version"] == VERSION
    assert set(mine["hooks"]) == {"photoplug_adapters", "photoplug_write",
                                  "photoplug_read_back", "photoplug_undo",
                                  "photoplug_commands"}
    text = shoebox.cli("plugins", model=False).stdout
    assert "shoebox: (a shoebox manifest (JSON) and its database)" in text


def test_the_plugins_subcommand_runs(shoebox: Shoebox) -> None:
    assert "shoebox" in shoebox.cli("--help", model=False).stdout
    out = json.loads(shoebox.cli("shoebox", "count", str(shoebox.manifest), "--json",
                                 model=False).stdout)
    assert out["photos"] == len(CLASSES) + 1 and out["readable"] == len(CLASSES)
    assert out["protocols"] == ["Corrected", "Rooted"]
    assert shoebox.cli("shoebox", "count", str(shoebox.manifest),
                       model=False).stdout.strip() == f"{len(CLASSES) + 1} photos"


def test_index_status_and_search(indexed: Shoebox) -> None:
    status = json.loads(indexed.cli("status", indexed.location, "--json", model=False).stdout)
    [row] = status["locations"]
    assert row["location"] == indexed.location
    assert row["indexed"] == len(CLASSES) and row["skipped"] == 1
    results = indexed.cli.json("search", "a photo of a red circle", indexed.location,
                               "--top", "3")
    assert results[0]["id"] == "red_circle.jpg", results
    assert results[0]["location"] == indexed.location
    assert results[0]["host_ref"] == {"shoebox": "red_circle.jpg"}
    assert Path(results[0]["path"]) == indexed.manifest.parent / "pics" / "red_circle.jpg"
    # indexing again changes nothing
    again = json.loads(indexed.cli("index", indexed.location, "--json").stdout)
    assert again["encoded"] == 0, again


def test_albums_sync_writes_corrections_win_and_undo_removes_only_ours(indexed: Shoebox
                                                                      ) -> None:
    cli, db_path = indexed.cli, indexed.db
    out = json.loads(indexed.sync("--json").stdout)
    [album] = out
    members = {m["id"] for m in album["members"]}
    assert "red_circle.jpg" in members, out
    assert all(m.startswith("red_") for m in members), members
    db = indexed.read_db()
    assert set(db["albums"]["photoplug/" + ALBUM]) == members
    assert db["albums"]["Holiday"] == ["blue_square.jpg"]
    assert Path(indexed.manifest.parent / ".photoplug-shoebox" / "ledger.json").is_file()

    count = json.loads(cli("shoebox", "count", str(indexed.manifest), "--json",
                           model=False).stdout)
    assert count["albums"] == {ALBUM: len(members)}

    # the user takes red_circle out of the album in the host: a new sync keeps it out
    db["albums"]["photoplug/" + ALBUM].remove("red_circle.jpg")
    db_path.write_text(json.dumps(db))
    resync = indexed.sync()
    assert "1 photos you took out stay out" in resync.stderr, resync.stderr
    assert set(indexed.read_db()["albums"]["photoplug/" + ALBUM]) == members - {
        "red_circle.jpg"}

    # search --save-album and --add-keyword go through the same hooks
    cli("search", "a photo of a blue circle", indexed.location, "--top", "1",
        "--save-album", "blue", "--add-keyword", "bluish")
    db = indexed.read_db()
    assert db["albums"]["photoplug/blue"] == ["blue_circle.jpg"]
    assert "photoplug/bluish" in db["keywords"]["blue_circle.jpg"]

    undone = cli("undo", indexed.location, model=False)
    assert f"remove album {ALBUM}" in undone.stderr, undone.stderr
    db = indexed.read_db()
    assert db["albums"] == {"Holiday": ["blue_square.jpg"]}
    assert {sid: words for sid, words in db["keywords"].items() if words} == {
        "red_circle.jpg": ["mine"]}
    assert not (indexed.manifest.parent / ".photoplug-shoebox" / "ledger.json").exists()
    assert "nothing to change" in cli("undo", indexed.location, model=False).stderr

    # after undo the correction is forgotten too: red_circle comes back
    indexed.sync()
    assert "red_circle.jpg" in indexed.read_db()["albums"]["photoplug/" + ALBUM]
    cli("undo", indexed.location, model=False)


def get(url: str) -> tuple[int, bytes, str]:
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.status, response.read(), response.headers.get("Content-Type", "")


def test_serve(indexed: Shoebox) -> None:
    argv = [str(Path(sys.executable).with_name("photoplug")), "serve", indexed.location,
            "--port", "0", "--albums", str(indexed.albums), "--model", indexed.cli.model]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=indexed.cli.env)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://"), proc.stderr.read()
        base = f"http://{urlsplit(url).netloc}"
        status, body, _ = get(f"{base}/api/locations")
        assert json.loads(body) == [indexed.location]
        status, body, _ = get(f"{base}/api/search?q={quote('a photo of a red circle')}&top=3")
        results = json.loads(body)
        assert status == 200 and results[0]["id"] == "red_circle.jpg", results
        assert results[0]["thumb"] == "/thumb/0/red_circle.jpg"
        status, body, kind = get(base + results[0]["thumb"])
        assert status == 200 and kind == "image/jpeg" and body[:2] == b"\xff\xd8"
        status, body, kind = get(base + results[0]["photo"])
        assert status == 200 and body == (indexed.manifest.parent / "pics" /
                                          "red_circle.jpg").read_bytes()
        status, body, _ = get(f"{base}/api/albums")
        [album] = json.loads(body)
        assert album["album"] == ALBUM and album["location"] == indexed.location
        assert "red_circle.jpg" in {m["id"] for m in album["members"]}
        # a file the manifest does not list is never served
        try:
            get(f"{base}/thumb/0/{quote('../manifest.json', safe='')}")
        except urllib.error.HTTPError as exc:
            assert exc.code == 404
        else:
            raise AssertionError("served a file the index does not list")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
