"""Builders for test folders: good photos in every format (DNGs and videos too) and every
kind of bad input."""
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
    dng(folder / "h.dng", draw("orange", "circle", (400, 300), rng))  # no preview
    video(folder / "i.mp4", [("red", "triangle", 1.0), ("blue", "circle", 1.0)],
          size=(160, 120))
    made += ["f.gif", "g.heic", "cmyk.jpg", "grey16.png", "h.dng", "i.mp4"]
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
    whole_dng = dng(folder / "whole.dng", draw("red", "square", (400, 300),
                                             np.random.default_rng(3)))
    whole_mp4 = video(folder / "whole.mp4", [("green", "square", 2.0)], size=(160, 120))
    for whole, cut in ((whole_dng, "truncated.dng"), (whole_mp4, "truncated.mp4")):
        (folder / cut).write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
        whole.unlink()
    return {"zero.jpg": "empty", "truncated.jpg": "truncated", "random.jpg": "not an image",
            "bomb.png": "bomb", "dangling.jpg": "broken", "truncated.dng": "truncated",
            "truncated.mp4": "truncated"}


def ignored_entries(folder: Path) -> None:
    """Entries a scan must not index: hidden files and folders, non-photos, a symlink loop."""
    draw_photo(folder / ".hidden.jpg", "red", "circle", seed=5, size=(200, 150))
    draw_photo(folder / ".cache" / "x.jpg", "red", "circle", seed=6, size=(200, 150))
    (folder / "notes.txt").write_text("not a photo")
    (folder / "sub").mkdir(exist_ok=True)
    os.symlink("..", folder / "sub" / "loop")


def dng(path: Path, picture: Image.Image, preview: Image.Image | None = None,
        jpeg: bool = True, orientation: int = 1) -> Path:
    """A DNG as a converter writes one, made with tifffile: ``picture`` as an RGGB Bayer
    mosaic (12-bit linear light, sRGB primaries) in a SubIFD, and ``preview`` (JPEG, or
    an uncompressed bitmap) as IFD0's reduced-resolution image; without a preview, the
    mosaic is IFD0. ``orientation`` is the EXIF/TIFF Orientation tag."""
    import tifffile
    light = (np.asarray(picture.convert("RGB"), np.float64) / 255.0) ** 2.2 * 4000 + 64
    mosaic = np.empty(light.shape[:2], np.uint16)
    for (y, x), channel in {(0, 0): 0, (0, 1): 1, (1, 0): 1, (1, 1): 2}.items():
        mosaic[y::2, x::2] = light[y::2, x::2, channel]
    xyz_to_srgb = [3.2406, -1.5372, -0.4986, -0.9689, 1.8758, 0.0415, 0.0557, -0.2040, 1.0570]
    main = [(50706, "B", 4, (1, 4, 0, 0), True), (50707, "B", 4, (1, 1, 0, 0), True),
            (271, "s", 0, "photoplug", True), (272, "s", 0, "test camera", True),
            (50708, "s", 0, "photoplug test camera", True), (274, "H", 1, orientation, True),
            (50721, "2i", 9, [v for c in xyz_to_srgb for v in (round(c * 10000), 10000)], True),
            (50778, "H", 1, 21, True), (50728, "2I", 3, (1, 1, 1, 1, 1, 1), True)]
    cfa = [(33421, "H", 2, (2, 2), True), (33422, "B", 4, (0, 1, 1, 2), True),
           (50714, "H", 1, 64, True), (50717, "H", 1, 4159, True)]
    path.parent.mkdir(parents=True, exist_ok=True)
    with tifffile.TiffWriter(path) as tif:
        if preview is None:
            tif.write(mosaic, photometric=32803, subfiletype=0, extratags=main + cfa)
        else:
            tif.write(np.asarray(preview.convert("RGB")), photometric="rgb", subfiletype=1,
                      subifds=1, extratags=main, rowsperstrip=preview.height,  # one JPEG
                      **({"compression": "jpeg", "compressionargs": {"level": 90}}
                         if jpeg else {}))
            tif.write(mosaic, photometric=32803, subfiletype=0, extratags=cfa)
    return path


def video(path: Path, scenes: list[tuple[str, str, float]], fps: int = 8,
          size: tuple[int, int] = (320, 240), codec: str = "libx264", keyframes: float = 1.0,
          rotation: int | None = None, faststart: bool = False) -> Path:
    """A video made with PyAV: toy-clip drawings, one per scene (colour, shape, seconds),
    with a keyframe every ``keyframes`` seconds; ``rotation``: the display matrix's
    (degrees counter-clockwise, as a phone held upright writes it)."""
    import av
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = max(1, round(keyframes * fps))
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for n, (colour, shape, seconds) in enumerate(scenes):
            frame = av.VideoFrame.from_image(draw(colour, shape, size,
                                                  np.random.default_rng(n)))
            for _ in range(round(seconds * fps)):
                out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path
