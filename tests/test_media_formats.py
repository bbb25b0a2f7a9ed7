"""Every still format Pillow and its plug-ins read is indexed, not a fixed list; a file of
a format photoplug does not read is counted in ``status`` by its extension, never passed
over in silence (sidecars aside)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from conftest import Cli, draw

# (file name, Pillow format, mode it is saved in): formats a fixed list used to miss
FORMATS = [("red.jp2", "JPEG2000", "RGB"), ("red.ppm", "PPM", "RGB"),
           ("red.pnm", "PPM", "RGB"), ("red.pgm", "PPM", "L"), ("red.pbm", "PPM", "1"),
           ("red.tga", "TGA", "RGB"), ("red.pcx", "PCX", "RGB"), ("red.sgi", "SGI", "RGB"),
           ("red.qoi", "QOI", "RGB")]


def test_pillow_formats_are_indexed_and_others_counted(toy_cli: Cli, tmp_path: Path) -> None:
    cli = toy_cli
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(3)
    for name, fmt, mode in FORMATS:
        draw("red", "circle", (480, 360), rng).convert(mode).save(photos / name, fmt)
    draw("blue", "square", (480, 360), rng).save(photos / "blue.jpg", "JPEG")
    (photos / "notes.txt").write_text("not a photo")
    (photos / "layers.xcf").write_bytes(b"gimp xcf v011" + bytes(64))
    (photos / "other.xcf").write_bytes(b"gimp xcf v011" + bytes(64))
    (photos / "blue.jpg.xmp").write_text("<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")

    report = cli.json("index", str(photos))
    assert report["total"] == len(FORMATS) + 1 + 3, report
    assert report["encoded"] == len(FORMATS) + 1, report["skipped"]
    skipped = {Path(s["path"]).name: s["reason"] for s in report["skipped"]}
    assert set(skipped) == {"notes.txt", "layers.xcf", "other.xcf"}
    assert all("not a format photoplug reads" in why for why in skipped.values())

    status = json.loads(cli("status", str(photos), "--json", model=False).stdout)
    assert status["locations"][0]["not_read"] == {".xcf": 2, ".txt": 1}
    shown = cli("status", str(photos), model=False).stdout
    assert "3 of the skipped are of formats photoplug does not read: 2 .xcf, 1 .txt" in shown

    results = cli.json("search", "a photo of a red circle", str(photos), "--top",
                       str(len(FORMATS) + 1), "--all-frames", model=False)  # one drawing
    names = [Path(r["path"]).name for r in results]
    in_colour = [n for n, _, mode in FORMATS if mode == "RGB"]
    assert set(names[:len(in_colour)]) == set(in_colour), names  # grey ones lost the red

    again = cli.json("index", str(photos))
    assert again["unchanged"] == again["total"] and again["encoded"] == 0
    assert again["skipped"] == [], "files of unread formats are reported once, not every run"


def test_the_known_extensions_come_from_pillow() -> None:
    from photoplug.media.formats import image_suffixes
    Image.init()
    assert {".jp2", ".pbm", ".pgm", ".ppm", ".pnm", ".heic", ".jpg", ".tif"} <= image_suffixes()
    assert not {".pdf", ".eps", ".mpg", ".txt"} & image_suffixes()
