"""The Apple Photos export adapter: grouping, Photos identity, sidecars, the plan for Photos."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from apple_fixtures import CAFE, UUIDS, osxphotos_database, photos_export, user_sidecar
from conftest import Cli, album_plan, keyword_plan
from test_folder_writeback import read_keywords, snapshot
from photoplug.adapters.apple_export.adapter import AppleExportAdapter, AppleExportLibrary
from photoplug.hooks import LocationError, WriteOptions

U1, U2, U3, U4 = (UUIDS[k] for k in ["2024/06/01/IMG_0001.HEIC", "2024/06/01/IMG_0002.JPG",
                                      "2024/06/02/IMG_0003.heic", "2024/06/02/IMG_0004.JPG"])


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One export without a database and the same export with osxphotos' database."""
    base = tmp_path_factory.mktemp("apple")
    plain = photos_export(base / "plain")
    with_db = base / "osxphotos"
    shutil.copytree(plain, with_db)
    osxphotos_database(with_db)
    return {"plain": plain, "osxphotos": with_db}


@pytest.fixture
def export(built, tmp_path: Path, request) -> AppleExportLibrary:
    root = tmp_path / "export"
    shutil.copytree(built[getattr(request, "param", "osxphotos")], root)
    return AppleExportAdapter().open(str(root))


@pytest.mark.parametrize("export", ["plain"], indirect=True)
def test_one_photo_per_asset_without_a_database(export) -> None:
    refs = {r.stable_id: r for r in export.scan()}
    photos = {k: r for k, r in refs.items() if not r.problem}
    assert sorted(photos) == sorted([*[k for k in UUIDS], "Albums/Beach/IMG_0004.JPG",
                                     "2024/06/04/IMG_0009.MOV"])
    live = photos["2024/06/01/IMG_0001.HEIC"].host_ref
    assert live["live_video"] == ["2024/06/01/IMG_0001.MOV"]  # paired, not indexed
    assert live["files"] == ["2024/06/01/IMG_0001.HEIC", "2024/06/01/IMG_E0001.JPG"]
    assert photos["2024/06/02/IMG_0003.heic"].host_ref["files"][1] == \
        "2024/06/02/IMG_0003_edited.jpeg"
    lone = photos["2024/06/04/IMG_0009.MOV"].host_ref  # a video of its own: indexed
    assert lone["files"] == ["2024/06/04/IMG_0009.MOV"] and lone["live_video"] == []
    assert not any(r.path.suffix.lower() in {".aae", ".xmp"} for r in refs.values())
    assert "file name + capture date" in export.notes()[0]
    assert export.select(album="2024/06/01") == {"2024/06/01/IMG_0001.HEIC",
                                                 "2024/06/01/IMG_0002.JPG"}
    with pytest.raises(LocationError, match="Apple Photos export has no rating"):
        export.select(rating=4)


def test_uuids_from_the_osxphotos_database(export) -> None:
    refs = {r.stable_id: r for r in export.scan() if not r.problem}
    lone_video = "99999999-9999-4999-8999-999999999999"
    assert sorted(refs) == sorted([*UUIDS.values(), lone_video])  # the NFD Café path too
    assert refs[UUIDS[f"{CAFE}/IMG_0005.JPG"]].path.name == "IMG_0005.JPG"
    copies = refs[U4].host_ref["files"]  # one photo exported into two folders
    assert sorted(copies) == ["2024/06/02/IMG_0004.JPG", "Albums/Beach/IMG_0004.JPG"]
    assert "UUIDs" in export.notes()[0]


def test_sidecars_merge_and_plan_uses_uuids(export) -> None:
    root = export.root
    before = snapshot(root)
    words = {U1: ["beach"], U2: ["beach", "sunset"], U3: ["forest"], U4: ["beach"]}
    assert export.write(keyword_plan(words), WriteOptions(dry_run=True)).changes
    assert snapshot(root) == before  # a dry run writes nothing

    report = export.write(keyword_plan(words), WriteOptions())
    assert not report.errors, report.errors
    day1, day2 = root / "2024/06/01", root / "2024/06/02"
    photos_own = read_keywords(day1 / "IMG_0002.xmp")  # Photos' naming kept
    assert photos_own["XMP-dc:Subject"] == ["Anna", "beach", "sunset"]
    assert photos_own["XMP-lr:HierarchicalSubject"] == ["People|Anna", "photoplug|beach",
                                                        "photoplug|sunset"]
    assert not (day1 / "IMG_0002.JPG.xmp").exists()
    assert read_keywords(day2 / "IMG_0003.heic.xmp")["XMP-dc:Subject"] == ["Ben", "forest"]
    for still in ["2024/06/01/IMG_0001.HEIC", "2024/06/01/IMG_E0001.JPG",
                  "2024/06/02/IMG_0004.JPG", "Albums/Beach/IMG_0004.JPG"]:
        assert read_keywords(root / f"{still}.xmp")["XMP-lr:HierarchicalSubject"] == \
            ["photoplug|beach"], still  # every still of the photo, osxphotos' naming

    plan = json.loads((root / "photoplug-plan.json").read_text())
    assert plan["keywords"] == {U1: ["photoplug/beach"], U2: ["photoplug/beach",
                                "photoplug/sunset"], U3: ["photoplug/forest"],
                                U4: ["photoplug/beach"]}
    script = (root / "photoplug-apply.applescript").read_text()
    assert f'media item id "{U2}/L0/001"' not in script  # ids go through findPhoto
    assert f'"{U2}/L0/001", "IMG_0002.JPG"' in script

    written = snapshot(root)
    again = export.write(keyword_plan(words), WriteOptions())
    assert again.changes == [] and snapshot(root) == written  # idempotent

    albums = export.write(album_plan({"beach days": [U1, U4], "empty": []}), WriteOptions())
    assert any("beach days" in c for c in albums.changes)
    plan = json.loads((root / "photoplug-plan.json").read_text())
    assert plan["albums"] == {"beach days": sorted([U1, U4]), "empty": []}
    assert export.write(album_plan({"beach days": [U4]}), WriteOptions()).changes  # shrinks
    assert json.loads((root / "photoplug-plan.json").read_text())["albums"]["beach days"] \
        == [U4]

    undo = export.undo(WriteOptions())
    assert not undo.errors, undo.errors
    after = snapshot(root)
    undo_plan = json.loads(after.pop("photoplug-undo.json"))
    undo_script = after.pop("photoplug-undo.applescript").decode()
    assert after == before  # sidecars back byte for byte; plan and apply script gone
    assert undo_plan["keywords"][U2] == ["photoplug/beach", "photoplug/sunset"]
    assert sorted(undo_plan["albums"]) == ["beach days", "empty"]
    assert f'my removeKeywords({{"{U2}/L0/001"' in undo_script
    assert 'my deleteAlbum(folderName, "beach days")' in undo_script


@pytest.mark.parametrize("export", ["plain"], indirect=True)
def test_without_uuids_photos_are_found_by_name_and_capture_date(export) -> None:
    ids = {"2024/06/01/IMG_0001.HEIC", "2024/06/01/IMG_0002.JPG",
           "2024/06/03/IMG_0006.PNG", f"{CAFE}/IMG_0005.JPG"}
    report = export.write(album_plan({"mix": ids}), WriteOptions())
    assert not report.errors
    photos = json.loads((export.root / "photoplug-plan.json").read_text())["photos"]
    assert photos["2024/06/01/IMG_0001.HEIC"]["taken"] == "2024-06-01T08:00:00"  # HEIC EXIF
    assert photos["2024/06/01/IMG_0002.JPG"]["taken"] == "2024-06-01T12:34:56"  # exiftool's
    assert photos["2024/06/03/IMG_0006.PNG"]["taken"] == "2024-06-03T10:00:00"  # from XMP
    assert photos[f"{CAFE}/IMG_0005.JPG"] == {"uuid": None, "filename": "IMG_0005.JPG",
                                              "taken": None,
                                              "files": [f"{CAFE}/IMG_0005.JPG"]}
    script = (export.root / "photoplug-apply.applescript").read_text()
    assert '{"", "IMG_0002.JPG", {2024, 6, 1, 45296}}' in script


def test_broken_sidecar_is_reported_and_left_alone(export) -> None:
    broken = export.root / "2024/06/02/IMG_0003.heic.xmp"
    broken.write_bytes(b"<x:xmpmeta><rdf:RDF><rdf:Description dc:subject=")
    report = export.write(keyword_plan({U3: ["forest"], U2: ["beach"]}), WriteOptions())
    assert len(report.errors) == 1 and "IMG_0003" in report.errors[0]
    assert broken.read_bytes() == b"<x:xmpmeta><rdf:RDF><rdf:Description dc:subject="
    assert read_keywords(export.root / "2024/06/01/IMG_0002.xmp")["XMP-dc:Subject"] == \
        ["Anna", "beach"]  # the others were written


def test_sidecar_naming_follows_the_folder(export) -> None:
    for rel in ["2024/06/02/IMG_0004.JPG", "Albums/Beach/IMG_0004.JPG"]:
        user_sidecar((export.root / rel).with_suffix(".xmp"), "Cara")
    # most sidecars here are now Photos' FILE.xmp: new ones follow
    export.write(keyword_plan({U1: ["beach"]}), WriteOptions())
    assert (export.root / "2024/06/01/IMG_0001.xmp").exists()
    assert not (export.root / "2024/06/01/IMG_0001.HEIC.xmp").exists()


def test_index_search_write_undo_from_the_cli(toy_cli: Cli, built, tmp_path: Path) -> None:
    root = tmp_path / "export"
    shutil.copytree(built["osxphotos"], root)
    bad = root / "2024/06/05/IMG_0010.HEIC"
    bad.parent.mkdir()
    bad.write_bytes((root / "2024/06/01/IMG_0001.HEIC").read_bytes()[:600])  # truncated
    before = snapshot(root)
    location = f"apple-export:{root}"

    indexed = json.loads(toy_cli("index", location, "--json").stdout)
    assert indexed["encoded"] == 6  # one per photo: no Live Photo video, no edit, no copy
    skipped = {Path(s["path"]).name: s["reason"] for s in indexed["skipped"]}
    assert set(skipped) == {"IMG_0009.MOV", "IMG_0010.HEIC"}  # a stub of a video, a cut HEIC
    assert "not a video" in skipped["IMG_0009.MOV"]
    status = toy_cli("status", location).stdout
    assert "UUIDs from .osxphotos_export.db" in status

    hits = toy_cli.json("search", "a red circle", location, "--top", "2")
    assert {h["id"] for h in hits} == {U1, U4}  # one result per photo, copies folded
    toy_cli("search", "a red circle", location, "--top", "2", "--add-keyword", "red",
            "--save-album", "Red things")
    plan = json.loads((root / "photoplug-plan.json").read_text())
    assert plan["keywords"] == {U1: ["photoplug/red"], U4: ["photoplug/red"]}
    assert plan["albums"] == {"Red things": sorted([U1, U4])}
    again = toy_cli("search", "a red circle", location, "--top", "2", "--add-keyword", "red")
    assert "nothing to change" in again.stderr

    toy_cli("undo", location)
    after = snapshot(root)
    assert {"photoplug-undo.json", "photoplug-undo.applescript"} <= set(after)
    for name in ("photoplug-undo.json", "photoplug-undo.applescript"):
        after.pop(name)
    assert after == before


def test_undo_dry_run_writes_nothing_and_a_bad_database_is_named(export) -> None:
    export.write(keyword_plan({U1: ["beach"]}), WriteOptions())
    written = snapshot(export.root)
    dry = export.undo(WriteOptions(dry_run=True))
    assert any("photoplug-undo.applescript" in c for c in dry.changes)
    assert snapshot(export.root) == written
    (export.root / ".osxphotos_export.db").write_bytes(b"not sqlite" * 100)
    with pytest.raises(LocationError, match="osxphotos export database"):
        list(export.scan())
