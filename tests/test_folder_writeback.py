"""Folder write-back: XMP sidecars via exiftool, album folders of links, exact undo."""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import Cli, album_plan, draw_photo, keyword_plan
from photoplug.adapters.folder.adapter import FolderAdapter
from photoplug.hooks import WriteOptions

FIELDS = ["XMP-dc:Subject", "XMP-lr:HierarchicalSubject", "XMP-digiKam:TagsList"]


def read_keywords(sidecar: Path) -> dict[str, list[str]]:
    """What exiftool itself reads back from a sidecar."""
    out = json.loads(subprocess.run(
        ["exiftool", "-j", "-G1", *[f"-{f}" for f in FIELDS], "--", str(sidecar)],
        capture_output=True, text=True, check=True).stdout)[0]
    values = {}
    for field in FIELDS:
        group, tag = field.split(":")
        raw = out.get(f"{group}:{tag}", [])
        values[field] = raw if isinstance(raw, list) else [raw]
    return values


def user_sidecar(path: Path) -> None:
    subprocess.run(["exiftool", "-q", "-o", str(path), "-XMP-dc:Subject=Anna",
                    "-XMP-dc:Subject=beach", "-XMP-lr:HierarchicalSubject=People|Anna",
                    "-XMP-digiKam:TagsList=People/Anna"], check=True)


@pytest.fixture
def library(tmp_path: Path):
    root = tmp_path / "photos"
    for name in ["plain.jpg", "has sidecar.jpg", "-dash ünï\ncode.jpg", "short.jpg"]:
        draw_photo(root / "trip" / name, "red", "circle", seed=len(name), size=(320, 240))
    user_sidecar(root / "trip" / "has sidecar.jpg.xmp")
    user_sidecar(root / "trip" / "short.xmp")  # Lightroom's FILE.xmp naming
    return FolderAdapter().open(str(root))


def snapshot(root: Path) -> dict[str, bytes | str]:
    return {str(p.relative_to(root)): (os.readlink(p) if p.is_symlink() else p.read_bytes())
            for p in sorted(root.rglob("*")) if p.is_file() or p.is_symlink()}


def test_keywords_merge_and_undo_restores_exactly(library) -> None:
    root = library.root
    before = snapshot(root)
    words = {sid: ["beach", "sunset"] for sid in
             ["trip/plain.jpg", "trip/has sidecar.jpg", "trip/-dash ünï\ncode.jpg",
              "trip/short.jpg"]}
    dry = library.write(keyword_plan(words), WriteOptions(dry_run=True))
    assert len(dry.changes) == 4 and snapshot(root) == before

    report = library.write(keyword_plan(words), WriteOptions())
    assert not report.errors, report.errors
    mine = read_keywords(root / "trip" / "has sidecar.jpg.xmp")
    assert mine["XMP-dc:Subject"] == ["Anna", "beach", "sunset"]  # "beach" was the user's
    assert mine["XMP-lr:HierarchicalSubject"] == ["People|Anna", "photoplug|beach",
                                                  "photoplug|sunset"]
    assert mine["XMP-digiKam:TagsList"] == ["People/Anna", "photoplug/beach",
                                            "photoplug/sunset"]
    assert read_keywords(root / "trip" / "short.xmp")["XMP-dc:Subject"] == \
        ["Anna", "beach", "sunset"]
    assert not (root / "trip" / "short.jpg.xmp").exists()
    odd = read_keywords(root / "trip" / "-dash ünï\ncode.jpg.xmp")
    assert odd["XMP-digiKam:TagsList"] == ["photoplug/beach", "photoplug/sunset"]

    written = snapshot(root)
    assert library.write(keyword_plan(words), WriteOptions()).changes == []  # idempotent
    assert snapshot(root) == written

    library.undo(WriteOptions())
    assert snapshot(root) == before


def test_undo_after_the_user_edited_a_sidecar_keeps_their_edit(library) -> None:
    sidecar = library.root / "trip" / "has sidecar.jpg.xmp"
    library.write(keyword_plan({"trip/has sidecar.jpg": ["dog"]}), WriteOptions())
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-XMP-dc:Subject+=Bob",
                    str(sidecar)], check=True)
    library.undo(WriteOptions())
    after = read_keywords(sidecar)
    assert after["XMP-dc:Subject"] == ["Anna", "beach", "Bob"]
    assert after["XMP-digiKam:TagsList"] == ["People/Anna"]


def test_broken_sidecar_is_reported_and_left_alone(library) -> None:
    broken = library.root / "trip" / "plain.jpg.xmp"
    broken.write_text("<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF")
    report = library.write(keyword_plan({"trip/plain.jpg": ["beach"],
                                         "trip/short.jpg": ["beach"]}), WriteOptions())
    assert len(report.errors) == 1 and "plain.jpg" in report.errors[0]
    assert broken.read_text() == "<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF"
    assert "beach" in read_keywords(library.root / "trip" / "short.xmp")["XMP-dc:Subject"]


def test_albums_are_folders_of_links_with_exact_membership(library) -> None:
    albums = library.root / ".photoplug" / "albums"
    library.write(album_plan({"Beach / sun": ["trip/plain.jpg", "trip/short.jpg"]}),
                  WriteOptions())
    (album,) = albums.iterdir()
    links = sorted(album.iterdir())
    assert [p.resolve() for p in links] == [library.root / "trip" / "plain.jpg",
                                            library.root / "trip" / "short.jpg"]
    assert all(not os.path.isabs(os.readlink(p)) for p in links)  # the library can move
    library.write(album_plan({"Beach / sun": ["trip/short.jpg"]}), WriteOptions())
    assert [p.resolve() for p in album.iterdir()] == [library.root / "trip" / "short.jpg"]
    assert "trip/short.jpg" in {ref.stable_id for ref in library.scan()}
    assert not any(".photoplug" in ref.stable_id for ref in library.scan())
    library.undo(WriteOptions())
    assert not (library.root / ".photoplug").exists()


def test_cli_tag_album_and_undo_never_reembed(cli: Cli, library) -> None:
    root = str(library.root)
    cli("index", root)
    before = snapshot(library.root)
    cli("search", "a photo", root, "--top", "2", "--add-keyword", "picked", "--save-album",
        "Picks",
        model=False)
    assert len(list((library.root / ".photoplug" / "albums" / "Picks").iterdir())) == 2
    again = cli.json("index", root, model=False)
    assert again["encoded"] == 0 and again["unchanged"] == 4, "own writes re-embedded photos"
    undo = cli("undo", root, model=False)
    assert "Picks" in undo.stderr
    assert snapshot(library.root) == before


def test_without_exiftool_a_keyword_write_is_one_line_and_changes_nothing(
        cli: Cli, library, tmp_path: Path) -> None:
    root = str(library.root)
    cli("index", root)
    before = snapshot(library.root)
    no_tools = tmp_path / "empty-path"
    no_tools.mkdir()
    failed = cli("search", "a photo", root, "--top", "2", "--add-keyword", "picked",
                 model=False, check=False, env={"PATH": str(no_tools)})
    assert failed.returncode != 0
    assert failed.stderr.strip().splitlines()[-1] == (
        "photoplug: error: exiftool is not installed, and photoplug writes XMP sidecars with it "
        "(Debian/Ubuntu: apt install libimage-exiftool-perl; macOS: brew install exiftool)")
    assert "Traceback" not in failed.stderr
    assert snapshot(library.root) == before


def test_with_over_a_thousand_files_open_sidecars_fail_in_one_line(library) -> None:
    """pyexiftool waits on exiftool's pipes with select(), which takes descriptors below
    1024 only: a process holding more gets a sentence, not a traceback."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1100:
        pytest.skip(f"this machine allows {hard} open files, too few to fill 1024")
    code = textwrap.dedent("""
        import os, resource, sys
        resource.setrlimit(resource.RLIMIT_NOFILE, (1100, resource.getrlimit(
            resource.RLIMIT_NOFILE)[1]))
        held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1030)]
        from photoplug.adapters.folder.adapter import FolderAdapter
        from photoplug.hooks import LocationError, WriteOptions, WritePlan
        try:
            FolderAdapter().open(sys.argv[1]).write(
                WritePlan(add_keywords={"trip/plain.jpg": {"beach"}}), WriteOptions())
        except LocationError as exc:
            print(exc)
        """)
    before = snapshot(library.root)
    out = subprocess.run([sys.executable, "-c", code, str(library.root)],
                         capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == ("exiftool could not be started: this process has over "
                                  "1,000 files open, and exiftool's pipes must be numbered "
                                  "below 1024"), out.stderr
    assert snapshot(library.root) == before
