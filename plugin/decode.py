"""Turn a photo file's bytes into an upright RGB image no larger than the model needs.

JPEGs are decoded in draft mode (DCT scaling) straight to about the model's input size,
HEIC/HEIF go through pillow-heif, RAW files through their embedded preview (rawpy),
and EXIF orientation is applied. Failures raise ``Unreadable`` with a one-line reason.
"""
from __future__ import annotations

import io
import re
import warnings
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from photoplug.preprocess import FULL_FRAME

try:
    import pillow_heif
    pillow_heif.register_heif_opener()
except ImportError:  # pragma: no cover - a declared dependency, but HEIC is then reported
    pillow_heif = None

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".webp", ".heic", ".heif",
                            ".tif", ".tiff", ".gif", ".bmp"})
RAW_SUFFIXES = frozenset({".cr2", ".cr3", ".nef", ".nrw", ".arw", ".srw", ".dng", ".orf",
                          ".rw2", ".raf", ".pef", ".raw", ".3fr", ".erf", ".kdc", ".mrw", ".x3f"})
PHOTO_SUFFIXES = IMAGE_SUFFIXES | RAW_SUFFIXES
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
        data = _raw_preview(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # EXIF and decompression-bomb *warnings*
            im = Image.open(io.BytesIO(data))  # in memory: nothing to close
            drafted = im.draft("RGB", (min_side * DRAFT_OVERSAMPLE,) * 2) \
                if im.format == "JPEG" else None
            im.load()
            orientation = im.getexif().get(ExifTags.Base.Orientation, 1)
            upright = _to_rgb(ImageOps.exif_transpose(im) if orientation in range(2, 9)
                              else im)
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
        raise Unreadable(f"corrupt or truncated image ({_short(exc)})") from None


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


def _raw_preview(data: bytes) -> bytes:
    """The embedded JPEG (or bitmap) preview of a RAW file."""
    try:
        import rawpy
    except ImportError:
        raise Unreadable("RAW file: install the optional extra with "
                         "`pip install 'photoplug[raw]'` to read its preview") from None
    try:
        with rawpy.imread(io.BytesIO(data)) as raw:
            thumb = raw.extract_thumb()
    except Exception as exc:  # rawpy raises its own LibRawError family
        raise Unreadable(f"RAW file without a readable preview ({_short(exc)})") from None
    if thumb.format == rawpy.ThumbFormat.JPEG:
        return bytes(thumb.data)
    buf = io.BytesIO()
    Image.fromarray(thumb.data).save(buf, "PNG")
    return buf.getvalue()


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:120]
