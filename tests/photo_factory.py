"""Builders for test folders: good photos in every format (DNGs and videos too) and every
kind of bad input."""
from __future__ import annotations

import io
import os
import struct
import zlib
from dataclasses import dataclass
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


# -- near-identical photos: sources, derived copies and look-alikes (``duplicates``) ----

SWING = 60  # how far a scene's landscape strays from its plain colour, per channel
COPY_KINDS = ("resize", "quality60", "crop", "brighter", "raw", "exif")


@dataclass(frozen=True)
class DuplicateSet:
    """What ``duplicate_set`` made: each group of one shot, its original first (file names
    in the folder), and the look-alikes that belong to no group."""

    groups: list[list[str]]
    lookalikes: list[str]


def scene(colour: str, shape: str, size: tuple[int, int], rng: np.random.Generator,
          place: tuple[float, float, float] | None = None) -> Image.Image:
    """A photo-like picture: a smooth coloured landscape with a few muted blobs and film
    grain, and one toy-clip ``colour`` ``shape`` at ``place`` (centre x and y as shares
    of the frame, radius as a share of its short side; random when None)."""
    from PIL import ImageDraw, ImageFilter
    from draw import COLORS
    w, h = size
    base = rng.integers(170, 236, 3)
    field = np.clip(base + rng.integers(-SWING, SWING + 1, (4, 6, 3)), 0, 255).astype(np.uint8)
    image = Image.fromarray(field).resize(size, Image.Resampling.BICUBIC)
    pen = ImageDraw.Draw(image)
    for _ in range(5):
        x, y, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.04, 0.12) * w
        pen.ellipse([x - r, y - r * 0.6, x + r, y + r * 0.6], fill=tuple(
            int(v) for v in np.clip(base - rng.integers(0, 2 * SWING, 3), 0, 255)))
    image = image.filter(ImageFilter.GaussianBlur(w / 300))
    cx, cy, r = place or (rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7), rng.uniform(0.18, 0.3))
    cx, cy, r = cx * w, cy * h, r * min(w, h)
    fill = tuple(int(np.clip(v + rng.integers(-20, 21), 0, 255)) for v in COLORS[colour])
    pen = ImageDraw.Draw(image)
    if shape == "circle":
        pen.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif shape == "square":
        pen.rectangle([cx - r, cy - r, cx + r, cy + r], fill=fill)
    else:
        pen.polygon([(cx, cy - r), (cx - r, cy + r * 0.8), (cx + r, cy + r * 0.8)], fill=fill)
    grain = rng.normal(0, 3, (h, w, 1))
    return Image.fromarray(np.clip(np.asarray(image, np.float64) + grain, 0, 255)
                           .astype(np.uint8))


def _brighter(image: Image.Image, ev: float) -> Image.Image:
    """``image`` exposed ``ev`` stops more: linear light times 2**ev, clipped."""
    linear = (np.asarray(image, np.float64) / 255.0) ** 2.2 * 2 ** ev
    return Image.fromarray((np.clip(linear, 0, 1) ** (1 / 2.2) * 255 + 0.5).astype(np.uint8))


def _copy(kind: str, picture: Image.Image, original: Path, target: Path,
          rng: np.random.Generator) -> None:
    """One derived copy of ``original`` (drawn as ``picture``) at ``target``."""
    w, h = picture.size
    if kind == "resize":
        picture.resize((w // 2, h // 2), Image.Resampling.LANCZOS).save(target, quality=90)
    elif kind == "quality60":
        picture.save(target, quality=60)
    elif kind == "crop":  # 5 % of each side's length off, shared out between its ends
        left, top = int(rng.uniform(0, 0.05) * w), int(rng.uniform(0, 0.05) * h)
        picture.crop((left, top, left + round(w * 0.95), top + round(h * 0.95))).save(
            target, quality=90)
    elif kind == "brighter":
        _brighter(picture, 0.5).save(target, quality=90)
    elif kind == "raw":  # the original is the RAW file; this is the JPEG made from it
        picture.save(target, quality=90)
    elif kind == "exif":  # re-saved by another program, with EXIF of its own
        exif = Image.Exif()
        exif[0x010F], exif[0x0110], exif[0x0131] = "Other", "Phone 2", "an editor 3.1"
        saved = Image.open(original) if original.suffix == ".jpg" else picture
        saved.save(target, quality=90, exif=exif.tobytes())


def duplicate_set(folder: Path, sources: int = 40, size: tuple[int, int] = (2000, 1500),
                  seed: int = 0) -> DuplicateSet:
    """``sources`` photos of varied content, each with 1-4 derived copies (every kind of
    ``COPY_KINDS`` as often as the others; a source with a ``raw`` copy is a DNG, the
    copy its JPEG), and as many look-alikes: each the same class as a source, with its
    shape moved by a quarter of the frame on the same landscape (even) or in the same
    place on another landscape (odd). Originals are a minute older than their copies."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    from draw import CLASSES
    groups, lookalikes, kinds = [], [], list(COPY_KINDS) * sources
    for n in range(sources):
        colour, shape = CLASSES[n % len(CLASSES)]
        place = (rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7), rng.uniform(0.18, 0.3))
        land = int(rng.integers(1 << 30))
        picture = scene(colour, shape, size, np.random.default_rng(land), place)
        count = int(rng.integers(1, 5))
        mine, kinds = kinds[:count], kinds[count:]
        raw = "raw" in mine
        original = folder / f"s{n:02d}_original.{'dng' if raw else 'jpg'}"
        if raw:
            dng(original, picture)
        else:
            picture.save(original, quality=92)
        group = [original.name]
        for kind in mine:
            target = folder / f"s{n:02d}_{kind}.jpg"
            _copy(kind, picture, original, target, rng)
            group.append(target.name)
        taken = 1_600_000_000 + 3600 * n
        os.utime(original, (taken, taken))
        for name in group[1:]:
            os.utime(folder / name, (taken + 60, taken + 60))
        groups.append(group)
        moved = (place[0] + (0.25 if place[0] < 0.5 else -0.25), place[1], place[2])
        other = scene(colour, shape, size, np.random.default_rng(
            land if n % 2 == 0 else land + 1), moved if n % 2 == 0 else place)
        name = f"l{n:02d}_lookalike.jpg"
        other.save(folder / name, quality=92)
        lookalikes.append(name)
    return DuplicateSet(groups, lookalikes)
