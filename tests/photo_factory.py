"""Builders for test folders: good photos in every format and every kind of bad input."""
from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from conftest import draw, draw_photo


def png_bomb(path: Path, side: int = 100_000) -> None:
    """A tiny PNG whose header claims side x side pixels: a decompression bomb."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def good_formats(folder: Path) -> list[str]:
    """One decodable photo per supported format; returns their relative names."""
    import pillow_heif
    rng = np.random.default_rng(7)
    made = []
    for name, fmt in [("a.png", "PNG"), ("b.webp", "WEBP"), ("c.tif", "TIFF"),
                      ("d.bmp", "BMP"), ("e.JPEG", "JPEG")]:
        draw("green", "circle", (400, 300), rng).save(folder / name, fmt)
        made.append(name)
    frames = [draw(c, "square", (200, 150), rng) for c in ("red", "blue")]
    frames[0].save(folder / "f.gif", save_all=True, append_images=frames[1:])
    pillow_heif.from_pillow(draw("blue", "square", (400, 300), rng)).save(folder / "g.heic")
    draw("purple", "triangle", (400, 300), rng).convert("CMYK").save(folder / "cmyk.jpg")
    grey16 = (np.linspace(0, 65535, 400 * 300).reshape(300, 400)).astype(np.uint16)
    Image.fromarray(grey16).save(folder / "grey16.png")
    made += ["f.gif", "g.heic", "cmyk.jpg", "grey16.png"]
    for odd in ["with space.jpg", "ünïcødé 写真.jpg", "-leading-dash.jpg", "new\nline.jpg"]:
        draw_photo(folder / odd, "yellow", "square", seed=len(odd), size=(400, 300))
        made.append(odd)
    return made


def bad_inputs(folder: Path) -> dict[str, str]:
    """Files that must be recorded as skipped; name -> a word the reason must contain."""
    (folder / "zero.jpg").write_bytes(b"")
    good = io.BytesIO()
    draw("red", "square", (800, 600), np.random.default_rng(1)).save(good, "JPEG")
    (folder / "truncated.jpg").write_bytes(good.getvalue()[: len(good.getvalue()) // 2])
    (folder / "random.jpg").write_bytes(np.random.default_rng(2).bytes(5000))
    png_bomb(folder / "bomb.png")
    os.symlink(folder / "does-not-exist.jpg", folder / "dangling.jpg")
    return {"zero.jpg": "empty", "truncated.jpg": "truncated", "random.jpg": "not an image",
            "bomb.png": "bomb", "dangling.jpg": "broken"}


def ignored_entries(folder: Path) -> None:
    """Entries a scan must not index: hidden files and folders, non-photos, a symlink loop."""
    draw_photo(folder / ".hidden.jpg", "red", "circle", seed=5, size=(200, 150))
    draw_photo(folder / ".cache" / "x.jpg", "red", "circle", seed=6, size=(200, 150))
    (folder / "notes.txt").write_text("not a photo")
    (folder / "sub").mkdir(exist_ok=True)
    os.symlink("..", folder / "sub" / "loop")
