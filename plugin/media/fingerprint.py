"""A photo's look at thumbnail size as a perceptual hash (imagehash's pHash): two files
of one shot (re-saved, resized, exposure changed) differ in a few of its 64 bits, two
photos of a similar scene in many."""
from __future__ import annotations

from pathlib import Path

from photoplug.media.decode import Unreadable, decode
from photoplug.media.video import frame_at, is_video

HASH_SIDE = 64  # pixels the hash is computed from (pHash itself shrinks to 32)


def perceptual_hash(path: Path, at: float | None = None) -> int | None:
    """The 64-bit pHash of the photo (a video's frame at ``at`` seconds), or None when it
    cannot be read."""
    import imagehash
    try:
        image = frame_at(path, at or 0.0, HASH_SIDE) if is_video(path) else \
            decode(path.read_bytes(), path, HASH_SIDE)
    except (Unreadable, OSError):
        return None
    return int(str(imagehash.phash(image, hash_size=8)), 16)


def distance(a: int, b: int) -> int:
    """How many of the 64 bits differ."""
    return (a ^ b).bit_count()
