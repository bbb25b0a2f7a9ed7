"""A photo's look at thumbnail size: a perceptual hash (imagehash's pHash), in which two
files of one shot (re-saved, resized, exposure changed) differ in a few of its 64 bits and
two photos of a similar scene in many; and a small thumbnail that tells a little
crop of a photo from another photo of the same scene (``same_shot``).

One shot, measured on photo-like scenes (``tests/photo_factory.duplicate_set``: 40 at
2000x1500 with every kind of derived copy, and 40 look-alikes of the same class with the
shape moved by a quarter of the frame, or in the same place on another landscape):
copies and crops differ in 0-16 bits, look-alikes in 12 or more, so the hash alone cannot
tell them apart. A colour thumbnail of one against crops of the other (``same_shot``)
fits a copy at 0.963 or more (a +0.5 EV copy against a 5 % crop is the worst) and a
look-alike at 0.857 at most (in grey: 0.939 and 0.896, and a red triangle on a plain
background fits a purple one). Whole frames alone, no crop tried, correlate at 0.884 or
more for a copy, and at 0.56 or less for 99 % of other pairs: the cheap first test.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from photoplug.media.decode import Unreadable, decode
from photoplug.media.formats import is_video
from photoplug.media.video import frame_at

HASH_SIDE = 64  # pixels the hash is computed from (pHash itself shrinks to 32)
MAYBE_SAME_BITS = 20  # pHashes further apart are never one shot (copies: 16 at most)
THUMB_SIDE = 32  # the thumbnail's side (the frame squeezed to a square)
SAME_SHOT_FIT = 0.92  # correlation of two thumbnails of one shot, a crop aligned
ALIKE_FRAMES = 0.7  # whole frames less correlated are never one shot (no crop is tried)
CROPS = (1.0, 0.95, 0.9)  # shares of each side a copy may keep of its original


def perceptual_hash(path: Path, at: float | None = None) -> int | None:
    """The 64-bit pHash of the photo (a video's frame at ``at`` seconds), or None when it
    cannot be read."""
    try:
        image = frame_at(path, at or 0.0, HASH_SIDE) if is_video(path) else \
            decode(path.read_bytes(), path, HASH_SIDE)
    except (Unreadable, OSError):
        return None
    return phash(image)


def phash(image: Image.Image) -> int:
    """The 64-bit pHash of a decoded image."""
    import imagehash
    return int(str(imagehash.phash(image, hash_size=8)), 16)


def distance(a: int, b: int) -> int:
    """How many of the 64 bits differ."""
    return (a ^ b).bit_count()


def thumbnail(image: Image.Image) -> bytes:
    """The frame squeezed to THUMB_SIDE x THUMB_SIDE RGB pixels (8 bits a channel)."""
    return image.convert("RGB").resize((THUMB_SIDE, THUMB_SIDE), Image.Resampling.BOX).tobytes()


@lru_cache(maxsize=1)
def _spans() -> np.ndarray:
    """For each span of a side that ``crops`` keeps (a share of ``CROPS``, at the start,
    middle or end), the bilinear resampling of a side to that span: (spans, side, side)."""
    side = THUMB_SIDE
    out = []
    for keep in CROPS:
        for start in sorted({0.0, (1 - keep) * side / 2, (1 - keep) * side}):
            where = np.clip(start + (np.arange(side) + 0.5) * keep - 0.5, 0, side - 1)
            low = np.floor(where).astype(int)
            high = np.minimum(low + 1, side - 1)
            m = np.zeros((side, side), np.float32)
            np.add.at(m, (np.arange(side), low), 1 - (where - low))
            np.add.at(m, (np.arange(side), high), where - low)
            out.append(m)
    return np.stack(out)


def crops(thumb: bytes) -> np.ndarray:
    """Every crop of a thumbnail that ``same_shot`` tries (each side keeping one of
    ``CROPS``' shares, at its start, middle or end), resized back to the thumbnail's side,
    as rows of unit vectors, each channel around its mean; row 0 is the whole frame."""
    pixels = np.frombuffer(thumb, np.uint8).reshape(THUMB_SIDE, THUMB_SIDE, 3)
    spans = _spans()
    n, side = len(spans), THUMB_SIDE
    flat = spans.reshape(n * side, side)
    rows = (flat @ pixels.astype(np.float32).reshape(side, side * 3))  # (a y), (j c)
    rows = rows.reshape(n, side, side, 3).transpose(0, 1, 3, 2).reshape(-1, side)
    both = (rows @ flat.T).reshape(n, side, 3, n, side)  # a, y, c, b, x
    out = np.ascontiguousarray(both.transpose(0, 3, 2, 1, 4)).reshape(n * n, 3, side * side)
    out -= out.mean(axis=2, keepdims=True)
    out = out.reshape(len(out), -1)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-6)


def whole(thumb: bytes) -> np.ndarray:
    """The whole frame of a thumbnail as ``crops`` gives it (its row 0), cheaply."""
    pixels = np.frombuffer(thumb, np.uint8).reshape(THUMB_SIDE * THUMB_SIDE, 3).T
    out = (pixels - pixels.mean(axis=1, keepdims=True)).ravel().astype(np.float32)
    return out / max(float(np.linalg.norm(out)), 1e-6)


def same_shot(a: np.ndarray, b: np.ndarray) -> float:
    """How well two photos fit as one shot, from their ``crops``: the best correlation of
    one's whole frame with a crop of the other, either way round (1.0: a perfect fit).
    Correlation ignores exposure and contrast, not colour."""
    return max(float((a @ b[0]).max()), float((b @ a[0]).max()))
