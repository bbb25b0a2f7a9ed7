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
from PIL import Image, ImageOps, UnidentifiedImageError

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


class Unreadable(Exception):
    """The file cannot be turned into an image; the message says why in a few words."""


def decode(data: bytes, path: Path, min_side: int) -> Image.Image:
    """Decode ``data`` (the bytes of ``path``) to RGB, at least ``min_side`` px on its short side."""
    if not data:
        raise Unreadable("empty file (0 bytes)")
    if path.suffix.lower() in RAW_SUFFIXES:
        data = _raw_preview(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # EXIF and decompression-bomb *warnings*
            with Image.open(io.BytesIO(data)) as im:
                if im.format == "JPEG":
                    im.draft("RGB", (min_side, min_side))
                im.load()
                upright = ImageOps.exif_transpose(im)
                return _to_rgb(upright)
    except Image.DecompressionBombError as exc:
        pixels = re.search(r"\d+", str(exc))
        raise Unreadable(f"refused as a decompression bomb ({pixels.group() if pixels else '?'}"
                         f" pixels)") from None
    except UnidentifiedImageError:
        raise Unreadable("not an image (unrecognised format)") from None
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as exc:
        raise Unreadable(f"corrupt or truncated image ({_short(exc)})") from None


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
