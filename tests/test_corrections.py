"""The user's corrections win: in plain folders and Apple Photos exports (digiKam's are in
test_digikam.py), and photoplug's ledger when a run dies mid-write."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from apple_fixtures import UUIDS, osxphotos_database, photos_export
from conftest import CLASSES, Cli, draw_photo
from test_folder_writeback import read_keywords
from photoplug.hooks import HostState
from photoplug.albums.ledger import Ledger

COLOURS = ["red", "green", "blue", "yellow", "purple", "orange"]
SHAPES = ["circle", "square", "triangle"]
BLUE = '''[[album]]
name = "blue things"
prompts = ["a photo of a blue circle", "a photo of a blue square", "a photo of a blue triangle"]
'''


def toy_vocabulary(path: Path, colours: list[str] = COLOURS,
                   shapes: list[str] = SHAPES) -> Path:
    lines = [f"{c}: " + " | ".join(f"a photo of a {c} {s}" for s in SHAPES) for c in colours]
    lines += [f"{s}: " + " | ".join(f"a photo of a {c} {s}" for c in COLOURS) for s in shapes]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Two pictures of each class."""
    root = tmp_path / "photos"
    for n, (colour, shape) in enumerate(CLASSES):
        for k in range(2):
            draw_photo(root / f"{colour}_{shape}_{k}.jpg", colour, shape, seed=700 + 31 * n + k,
                       size=(400, 300))
    return root


def members(album: Path) -> set[str]:
    return {os.path.basename(os.readlink(p)) for p in album.iterdir() if p.is_symlink()}


def test_folder_album_corrections_survive_every_sync(toy_cli: Cli, folder: Path,
                                                     tmp_path: Path) -> None:
    albums = tmp_path / "albums.toml"
    albums.write_text(BLUE)
    vocab = toy_vocabulary(tmp_path / "toy.txt")
    sync = ["albums", "sync", str(folder), "--albums", str(albums), "--vocabulary", str(vocab),
            "--only-mine"]
    # a near duplicate (the same drawing saved again) of the photo the user will take out,
    # and of the one they will put in: what follows each of them is then surely there
    for name in ("blue_square_1.jpg", "purple_circle_0.jpg"):
        Image.open(folder / name).save(folder / name.replace(".jpg", " copy.jpg"), quality=80)
    toy_cli(*sync)
    album = folder / ".photoplug" / "albums" / "blue things"
    first = members(album)
    assert first == {p.name for p in folder.glob("blue_*.jpg")}

    (album / "blue_square_1.jpg").unlink()  # the user takes one out...
    os.symlink("../../../purple_circle_0.jpg", album / "my pick.jpg")  # ...and puts one in
    (album / "notes.txt").write_text("mine")  # and keeps a file of their own there
    again = toy_cli(*sync, "--explain", model=False)
    after = members(album)
    assert "blue_square_1.jpg" not in after and "purple_circle_0.jpg" in after
    assert "1 photos you took out stay out" in again.stderr
    assert "1 photos you put in stay in" in again.stderr
    assert "- blue_square_1.jpg: taken out by you" in again.stdout
    assert "+ purple_circle_0.jpg: added by you" in again.stdout
    went, came = first - after - {"blue_square_1.jpg"}, after - first - {"purple_circle_0.jpg"}
    assert "blue_square_1 copy.jpg" in went and "purple_circle_0 copy.jpg" in came
    for gone in went:  # its near duplicates go with it
        assert f"- {gone}: most like a photo you took out (blue_square_1.jpg)" in again.stdout
    for new in came:  # and come with the one put in
        assert f"+ {new}: most like a photo you put in (purple_circle_0.jpg)" in again.stdout
    assert "nothing to change" in toy_cli(*sync, model=False).stderr  # and it stays so

    toy_cli(*sync, "--reset", "blue things", model=False)  # forget the corrections
    assert members(album) == first and (album / "notes.txt").read_text() == "mine"
    bad = toy_cli(*sync, "--reset", "no such album", model=False, check=False)
    assert bad.returncode == 1 and "no album of that name" in bad.stderr

    toy_cli("undo", str(folder), model=False)
    assert not (folder / ".photoplug" / "ledger.json").exists()
    assert (album / "notes.txt").read_text() == "mine"  # never a file of the user's
    assert members(album) == set()


def test_folder_tags_the_user_removed_stay_off_and_stale_ones_leave(
        toy_cli: Cli, folder: Path, tmp_path: Path) -> None:
    vocab = toy_vocabulary(tmp_path / "toy.txt")
    tag = ["tag", str(folder), "--vocabulary", str(vocab), "--only-mine"]
    toy_cli(*tag)
    sidecar = folder / "green_square_0.jpg.xmp"
    assert read_keywords(sidecar)["XMP-lr:HierarchicalSubject"] == ["photoplug|green",
                                                                    "photoplug|square"]
    toy_cli("search", "a photo of a red circle", str(folder), "--top", "1", "--add-keyword",
            "favourite", model=False)
    favourite = next(folder.glob("red_circle_*.jpg.xmp"))
    # the user takes "square" off in their photo manager, and adds a keyword of their own
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-XMP-dc:Subject-=square",
                    "-XMP-lr:HierarchicalSubject-=photoplug|square",
                    "-XMP-digiKam:TagsList-=photoplug/square", "-XMP-dc:Subject+=mine",
                    str(sidecar)], check=True)
    again = toy_cli(*tag, model=False)
    assert "nothing to change" in again.stderr
    assert "keyword square: stays off 1 photos you took it off" in again.stderr
    assert read_keywords(sidecar)["XMP-dc:Subject"] == ["green", "mine"]

    colours_only = toy_vocabulary(tmp_path / "colours.txt", shapes=[])
    toy_cli("tag", str(folder), "--vocabulary", str(colours_only), "--only-mine",
            model=False)
    for path in folder.glob("*_triangle_*.jpg.xmp"):  # photoplug's stale shape tags left
        assert not any("triangle" in v for v in read_keywords(path)["XMP-dc:Subject"])
    assert read_keywords(sidecar)["XMP-dc:Subject"] == ["green", "mine"]
    assert "photoplug|favourite" in read_keywords(favourite)["XMP-lr:HierarchicalSubject"]


def test_a_corrupt_ledger_stops_the_write(toy_cli: Cli, folder: Path, tmp_path: Path) -> None:
    albums = tmp_path / "albums.toml"
    albums.write_text(BLUE)
    toy_cli("index", str(folder))
    (folder / ".photoplug").mkdir()
    ledger = folder / ".photoplug" / "ledger.json"
    ledger.write_text("{not json")
    result = toy_cli("albums", "sync", str(folder), "--albums", str(albums), check=False,
                     model=False)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "ledger.json" in result.stderr
    assert not (folder / ".photoplug" / "albums").exists()
    bad_albums = tmp_path / "bad.toml"
    bad_albums.write_text("[[album]]\nname = 3\n")
    ledger.unlink()
    result = toy_cli("albums", "sync", str(folder), "--albums", str(bad_albums), check=False,
                     model=False)
    assert result.returncode == 1 and "line 2" in result.stderr
    assert not (folder / ".photoplug" / "albums").exists()


def test_apple_export_keyword_corrections(toy_cli: Cli, tmp_path: Path) -> None:
    """In an export photoplug sees its sidecars (a keyword taken off there stays off) but
    not Photos itself; keywords re-tagging drops are taken off by the next script."""
    root = photos_export(tmp_path / "export")
    osxphotos_database(root)
    location = f"apple-export:{root}"
    toy_cli("index", location)
    vocab = toy_vocabulary(tmp_path / "toy.txt")
    toy_cli("tag", location, "--vocabulary", str(vocab), "--only-mine", model=False)
    plan = json.loads((root / "photoplug-plan.json").read_text())
    uuid = UUIDS["2024/06/01/IMG_0002.JPG"]
    words = plan["keywords"][uuid]
    assert len(words) == 2 and all(w.startswith("photoplug/") for w in words)
    (sidecar,) = root.glob("2024/06/01/IMG_0002*.xmp")
    taken = words[0].split("/", 1)[1]
    subprocess.run(["exiftool", "-q", "-overwrite_original", f"-XMP-dc:Subject-={taken}",
                    f"-XMP-lr:HierarchicalSubject-=photoplug|{taken}", str(sidecar)],
                   check=True)
    colours_only = toy_vocabulary(tmp_path / "colours.txt", shapes=[])
    out = toy_cli("tag", location, "--vocabulary", str(colours_only), "--only-mine",
                  model=False)
    assert f"keyword {taken}: stays off 1 photos you took it off" in out.stderr
    plan = json.loads((root / "photoplug-plan.json").read_text())
    assert f"photoplug/{taken}" not in plan["keywords"].get(uuid, [])  # off in Photos too
    assert f"photoplug/{taken}" in plan["removed"][uuid]
    shapes = {f"photoplug/{s}" for s in SHAPES}
    assert all(not set(kws) & shapes for kws in plan["keywords"].values())
    assert any(set(kws) & shapes for kws in plan["removed"].values())
    assert "my removeKeywords(" in (root / "photoplug-apply.applescript").read_text()
    assert f"photoplug|{taken}" not in read_keywords(sidecar)["XMP-lr:HierarchicalSubject"]


def test_a_write_killed_midway_leaves_its_photos_ambiguous(tmp_path: Path) -> None:
    """Between the pending record and the host's write nothing is known for sure: photos
    the two records disagree on are not read as corrections."""
    ledger = Ledger.load(tmp_path / "ledger.json")
    ledger.observe(HostState())
    ledger.commit({"a": {"1", "2"}}, None, {}, HostState({"a": {"1", "2"}}))
    ledger = Ledger.load(tmp_path / "ledger.json")
    ledger.observe(HostState({"a": {"1", "2"}}))
    ledger.begin({"a": {"2", "3"}}, None, {})  # ...and the run dies before writing
    ledger = Ledger.load(tmp_path / "ledger.json")
    ledger.observe(HostState({"a": {"1"}}))  # 2 gone: the user took it out; 1, 3 unsure
    assert ledger.albums["a"].taken_out == {"2"} and ledger.albums["a"].put_in == set()
    ledger.commit({"a": {"1"}}, None, {}, HostState({"a": {"1"}}))
    assert not (tmp_path / "ledger.json.pending").exists()
    ledger = Ledger.load(tmp_path / "ledger.json")
    ledger.observe(HostState({"a": {"1", "4"}}))
    assert ledger.albums["a"].put_in == {"4"} and ledger.albums["a"].taken_out == {"2"}


def test_undo_keeps_nothing_of_photoplugs(toy_cli: Cli, folder: Path, tmp_path: Path) -> None:
    vocab = toy_vocabulary(tmp_path / "toy.txt")
    before = {p: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    toy_cli("tag", str(folder), "--vocabulary", str(vocab), "--only-mine")
    toy_cli("undo", str(folder), model=False)
    assert not (folder / ".photoplug").exists()
    assert {p: p.read_bytes() for p in folder.iterdir() if p.is_file()} == before
    shutil.rmtree(folder)
