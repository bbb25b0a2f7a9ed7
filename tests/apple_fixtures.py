"""Builders for Apple Photos export folders, as Photos and ``osxphotos export`` write them.

Real files throughout: HEIC written by pillow-heif (with EXIF dates), JPEGs whose EXIF
dates exiftool writes, Live Photo videos, ``.AAE`` edit files, edited copies, XMP
sidecars written by exiftool, and osxphotos export databases made by osxphotos' own
``ExportDB`` API.
"""
from __future__ import annotations

import subprocess
import unicodedata
from pathlib import Path

import numpy as np
from PIL import Image

from conftest import draw

# a minimal QuickTime file: just its "ftyp" atom
QUICKTIME = b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  "
AAE = b"""<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict><key>adjustmentFormatIdentifier</key>
<string>com.apple.photo</string></dict></plist>
"""
CAFE = "Trips/Café été"  # written NFC here; a Mac's export database records it NFD

# stable file -> (colour, shape, capture time or None)
PHOTOS = {
    "2024/06/01/IMG_0001.HEIC": ("red", "circle", "2024:06:01 08:00:00"),
    "2024/06/01/IMG_0002.JPG": ("blue", "square", "2024:06:01 12:34:56"),
    "2024/06/02/IMG_0003.heic": ("green", "triangle", "2024:06:02 09:15:00"),
    "2024/06/02/IMG_0004.JPG": ("red", "circle", "2024:06:02 17:45:10"),
    f"{CAFE}/IMG_0005.JPG": ("yellow", "square", None),
    "2024/06/03/IMG_0006.PNG": ("purple", "triangle", None),  # date only in its sidecar
}
UUIDS = {
    "2024/06/01/IMG_0001.HEIC": "11111111-1111-4111-8111-111111111111",
    "2024/06/01/IMG_0002.JPG": "22222222-2222-4222-8222-222222222222",
    "2024/06/02/IMG_0003.heic": "33333333-3333-4333-8333-333333333333",
    "2024/06/02/IMG_0004.JPG": "44444444-4444-4444-8444-444444444444",
    f"{CAFE}/IMG_0005.JPG": "55555555-5555-4555-8555-555555555555",
    "2024/06/03/IMG_0006.PNG": "66666666-6666-4666-8666-666666666666",
}


def exiftool(*args: str) -> None:
    subprocess.run(["exiftool", "-q", "-overwrite_original", *args], check=True)


def save_photo(path: Path, colour: str, shape: str, taken: str | None, seed: int) -> None:
    """A photo of toy-clip's kind; HEIC via pillow-heif, JPEG and PNG via Pillow; the
    capture time in EXIF (written by pillow-heif for HEIC, by exiftool for JPEG)."""
    import pillow_heif
    path.parent.mkdir(parents=True, exist_ok=True)
    image = draw(colour, shape, (640, 480), np.random.default_rng(seed))
    suffix = path.suffix.lower()
    if suffix == ".heic":
        exif = Image.Exif()
        if taken:
            exif.get_ifd(0x8769)[0x9003] = taken
        pillow_heif.from_pillow(image).save(path, quality=80, exif=exif.tobytes())
        return
    image.save(path, "PNG" if suffix == ".png" else "JPEG", quality=90)
    if taken and suffix != ".png":
        exiftool(f"-EXIF:DateTimeOriginal={taken}", "--", str(path))


def user_sidecar(path: Path, *keywords: str, date: str | None = None) -> None:
    """A sidecar as Photos' "Export IPTC as XMP" or ``osxphotos --sidecar xmp`` writes one."""
    args = [f"-XMP-dc:Subject={k}" for k in keywords]
    args += [f"-XMP-lr:HierarchicalSubject=People|{k}" for k in keywords if k[0].isupper()]
    if date:
        args.append(f"-XMP-photoshop:DateCreated={date}")
    subprocess.run(["exiftool", "-q", "-o", str(path), *args], check=True)


def photos_export(root: Path) -> Path:
    """An export as Photos writes it (no database): originals in date folders, a Live
    Photo with its .MOV and .AAE, a Photos edited copy (IMG_E), an osxphotos edited copy,
    sidecars in both namings, a photo exported into two folders, and a lone video."""
    for n, (rel, (colour, shape, taken)) in enumerate(PHOTOS.items()):
        save_photo(root / rel, colour, shape, taken, seed=n)
    day1 = root / "2024/06/01"
    (day1 / "IMG_0001.MOV").write_bytes(QUICKTIME)  # Live Photo video
    (day1 / "IMG_0001.AAE").write_bytes(AAE)
    save_photo(day1 / "IMG_E0001.JPG", "red", "circle", None, seed=40)  # Photos' edit
    user_sidecar(day1 / "IMG_0002.xmp", "Anna", "beach")  # Photos' naming
    day2 = root / "2024/06/02"
    save_photo(day2 / "IMG_0003_edited.jpeg", "green", "triangle", None, seed=41)  # osxphotos'
    user_sidecar(day2 / "IMG_0003.heic.xmp", "Ben")  # osxphotos' naming
    user_sidecar(root / "2024/06/03/IMG_0006.PNG.xmp", date="2024:06:03 10:00:00")
    copy = root / "Albums/Beach/IMG_0004.JPG"
    copy.parent.mkdir(parents=True)
    copy.write_bytes((day2 / "IMG_0004.JPG").read_bytes())
    (root / "2024/06/04").mkdir(parents=True)
    (root / "2024/06/04/IMG_0009.MOV").write_bytes(QUICKTIME)  # a video, no still
    return root


def osxphotos_database(root: Path) -> None:
    """The export database ``osxphotos export`` leaves, made by its own ExportDB API with
    the paths normalised as on a Mac (NFD)."""
    from osxphotos import unicode as osxphotos_unicode
    from osxphotos.export_db import ExportDB
    osxphotos_unicode.set_unicode_fs_form("NFD")
    try:
        db = ExportDB(root / ".osxphotos_export.db", root)
        files = {rel: uuid for rel, uuid in UUIDS.items()}
        files["2024/06/01/IMG_0001.MOV"] = UUIDS["2024/06/01/IMG_0001.HEIC"]
        files["2024/06/01/IMG_E0001.JPG"] = UUIDS["2024/06/01/IMG_0001.HEIC"]
        files["2024/06/02/IMG_0003_edited.jpeg"] = UUIDS["2024/06/02/IMG_0003.heic"]
        files["Albums/Beach/IMG_0004.JPG"] = UUIDS["2024/06/02/IMG_0004.JPG"]
        files["2024/06/04/IMG_0009.MOV"] = "99999999-9999-4999-8999-999999999999"
        for rel, uuid in files.items():
            db.create_file_record(unicodedata.normalize("NFD", str(root / rel)), uuid)
        db.close()
    finally:
        osxphotos_unicode.set_unicode_fs_form("NFC")
