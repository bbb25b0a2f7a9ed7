"""Turn a photo file's bytes into an upright RGB image no larger than the model needs.

JPEGs are decoded in draft mode (DCT scaling) straight to about the model's input size,
HEIC/HEIF go through pillow-heif, RAW files (LibRaw, through rawpy) through their embedded
preview when it is large enough, else demosaiced at half size; EXIF orientation (a RAW
file's own) is applied. Failures raise ``Unreadable`` with a one-line reason.
"""
from __future__ import annotations

import io
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import ExifTags, Image, UnidentifiedImageError

from photoplug.media.formats import RAW_SUFFIXES, pillow_with_plugins
from photoplug.model.preprocess import FULL_FRAME

pillow_with_plugins()
_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
              4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
              6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
              8: Image.Transpose.ROTATE_90}
# LibRaw's ``sizes.flip`` (bit 0: mirror left-right, 1: top-bottom, 2: swap axes) as the
# EXIF orientation it was read from
_RAW_FLIP = {0: 1, 1: 2, 2: 4, 3: 3, 4: 5, 5: 8, 6: 6, 7: 7}
# A JPEG is decoded scaled down (by 1/2, 1/4 or 1/8 in the DCT) to at least this many
# times the model's input side: far enough above it that the model's own resize, not the
# DCT's coarser filter, shapes the pixels (see tests/test_fidelity.py).
DRAFT_OVERSAMPLE = 2


class Unreadable(Exception):
    """The file cannot be turned into an image; the message says why in a few words."""


def decode(data: bytes, path: Path, min_side: int) -> Image.Image:
    """Decode ``data`` (the bytes of ``path``) to upright RGB, at least ``min_side`` px on its
    short side (a JPEG scaled down only as far as ``DRAFT_OVERSAMPLE`` allows)."""
    if not data:
        raise Unreadable("empty file (0 bytes)")
    if path.suffix.lower() in RAW_SUFFIXES:
        return _raw(data, min_side)
    return _image(data, min_side)


def _image(data: bytes, min_side: int, orientation: int = 1) -> Image.Image:
    """Pillow's decode, upright by the image's EXIF orientation (else ``orientation``)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # EXIF and decompression-bomb *warnings*
            im = Image.open(io.BytesIO(data))  # in memory: nothing to close
            drafted = im.draft("RGB", (min_side * DRAFT_OVERSAMPLE,) * 2) \
                if im.format == "JPEG" else None
            im.load()
            orientation = im.getexif().get(ExifTags.Base.Orientation, orientation)
            upright = _to_rgb(_turned(im, orientation))
            if drafted:
                _keep_frame(upright, im.size, drafted[1], orientation)
            return upright
    except Image.DecompressionBombError as exc:
        pixels = re.search(r"\d+", str(exc))
        raise Unreadable(f"refused as a decompression bomb ({pixels.group() if pixels else '?'}"
                         f" pixels)") from None
    except UnidentifiedImageError:
        raise Unreadable("not an image (unrecognised format)") from None
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as exc:
        raise Unreadable(f"corrupt or truncated image ({first_line(exc)})") from None


def _turned(im: Image.Image, orientation: int) -> Image.Image:
    """``im`` turned upright by an EXIF orientation (as ``ImageOps.exif_transpose``)."""
    method = _TRANSPOSE.get(orientation)
    return im.transpose(method) if method is not None else im


def _keep_frame(upright: Image.Image, drafted: tuple[int, int],
                box: tuple[float, float, float, float], orientation: int) -> None:
    """Note in ``upright.info`` where the full frame lies in a DCT-scaled image (its last
    row and column of pixels may stand for a partial block), turned as EXIF turned it."""
    w, h = drafted
    bw, bh = box[2], box[3]
    boxes = {2: (w - bw, 0, w, bh), 3: (w - bw, h - bh, w, h), 4: (0, h - bh, bw, h),
             5: (0, 0, bh, bw), 6: (h - bh, 0, h, bw), 7: (h - bh, w - bw, h, w),
             8: (0, w - bw, bh, w)}
    if upright.size == ((h, w) if orientation in (5, 6, 7, 8) else (w, h)):
        upright.info[FULL_FRAME] = (upright.size, boxes.get(orientation, (0, 0, bw, bh)))


def _to_rgb(im: Image.Image) -> Image.Image:
    """RGB as open_clip's own ``_convert_to_rgb`` gives, with 16/32-bit greys scaled, not clipped."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(im).astype(np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or arr.max() > 255 else 255.0
        im = Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8))
    elif im.mode == "F":
        arr = np.asarray(im)
        span = float(arr.max() - arr.min()) or 1.0
        im = Image.fromarray(((arr - arr.min()) / span * 255).astype(np.uint8))
    return im if im.mode == "RGB" else im.convert("RGB")


def _raw(data: bytes, min_side: int) -> Image.Image:
    """A RAW file's embedded preview when it is large enough (as a JPEG is drafted: at
    least ``DRAFT_OVERSAMPLE`` times ``min_side``), else its own pixels, demosaiced by
    LibRaw at half size (each 2x2 block of the mosaic one pixel) and turned upright."""
    try:
        import rawpy
    except ImportError:  # pragma: no cover - a declared dependency
        raise Unreadable("RAW file: rawpy is not installed (`pip install rawpy`)") from None
    try:
        with rawpy.imread(io.BytesIO(data)) as raw:
            preview = _raw_preview(raw, min_side)
            if preview is not None:
                return preview
            rgb = raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8)
    except rawpy.LibRawFileUnsupportedError as exc:
        raise Unreadable(f"corrupt, truncated or not a RAW file LibRaw reads "
                         f"({first_line(exc)})") from None
    except (rawpy.LibRawError, MemoryError) as exc:
        raise Unreadable(f"corrupt or truncated RAW file ({first_line(exc)})") from None
    image = Image.fromarray(rgb)
    factor = min(image.size) // (min_side * DRAFT_OVERSAMPLE)
    return image.reduce(factor) if factor >= 2 else image


def _raw_preview(raw: Any, min_side: int) -> Image.Image | None:
    """The embedded preview, upright (its own EXIF orientation, else the RAW file's), or
    None when there is none, it cannot be read or it is too small."""
    import rawpy
    try:
        thumb = raw.extract_thumb()
    except rawpy.LibRawError:
        return None
    orientation = _RAW_FLIP.get(raw.sizes.flip, 1)
    try:
        if thumb.format == rawpy.ThumbFormat.JPEG:
            image = _image(bytes(thumb.data), min_side, orientation)
        else:
            image = _to_rgb(_turned(Image.fromarray(thumb.data), orientation))
    except (Unreadable, ValueError, TypeError):
        return None
    return image if min(image.size) >= min_side * DRAFT_OVERSAMPLE else None


def first_line(exc: BaseException) -> str:
    """An exception's message in a few words: its first line, or its type."""
    message = exc.args[0] if len(exc.args) == 1 and isinstance(exc.args[0], bytes) else exc
    text = message.decode(errors="replace") if isinstance(message, bytes) else str(message)
    return (text.strip().splitlines() or [type(exc).__name__])[0][:120]
