"""Each photo's look, measured once per content (the index's ``looks`` table, keyed by
content hash like the vectors): its pHash and grey thumbnail (is it the same shot?), and
what the best copy is chosen by: pixel size, sharpness and the share of clipped values. A
re-run measures only photos it has not seen."""
from __future__ import annotations

import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
from PIL import Image, ImageFilter

from photoplug.index.store import IndexStore
from photoplug.media.decode import Unreadable, decode, first_line
from photoplug.media.formats import RAW_SUFFIXES
from photoplug.media.fingerprint import thumbnail, phash

DECODE_SIDE = 128  # short side the look is measured at (a JPEG: DCT-scaled towards it)
SHARPNESS_SIDE = 384  # long side sharpness is measured at, the same for every copy


@dataclass(frozen=True)
class Look:
    """One content's look; ``reason`` says why it could not be measured (then no other
    field is meaningful)."""

    phash: int = 0
    thumb: bytes = b""
    width: int = 0
    height: int = 0
    sharpness: float = 0.0
    clipped: float = 0.0
    reason: str | None = None

    @property
    def pixels(self) -> int:
        return self.width * self.height


def measure(path: Path) -> Look:
    """The look of the photo at ``path``."""
    try:
        data = path.read_bytes()
        image = decode(data, path, DECODE_SIDE)
        width, height = _pixel_size(data, path)
    except Unreadable as exc:
        return Look(reason=str(exc))
    except OSError as exc:
        return Look(reason=f"cannot be read ({exc.strerror or first_line(exc)})")
    values = np.asarray(image)
    clipped = float(np.mean((values == 0) | (values == 255)))  # shadows, highlights
    return Look(phash(image), thumbnail(image), width, height, _sharpness(image),
                clipped)


def _pixel_size(data: bytes, path: Path) -> tuple[int, int]:
    """The photo's own size in pixels (a RAW file's: its sensor's visible area)."""
    if path.suffix.lower() in RAW_SUFFIXES:
        import rawpy
        with rawpy.imread(io.BytesIO(data)) as raw:
            return int(raw.sizes.width), int(raw.sizes.height)
    with Image.open(io.BytesIO(data)) as im:
        return im.size


def _sharpness(image: Image.Image) -> float:
    """The variance of the Laplacian of the grey image at ``SHARPNESS_SIDE``: edges and
    fine detail; a blurred frame of a burst scores lower."""
    grey = image.convert("L")
    scale = SHARPNESS_SIDE / max(grey.size)
    grey = grey.resize((max(1, round(grey.width * scale)), max(1, round(grey.height * scale))),
                       Image.Resampling.BILINEAR)
    laplacian = grey.filter(ImageFilter.Kernel((3, 3), (0, 1, 0, 1, -4, 1, 0, 1, 0), 1, 128))
    return float(np.asarray(laplacian, np.float32).var())


class LookStore:
    """The ``looks`` table of an index."""

    def __init__(self, store: IndexStore) -> None:
        self.store = store

    def get(self, hashes: Iterable[str]) -> dict[str, Look]:
        """The stored looks of these contents (those measured before)."""
        hashes, found = list(hashes), {}
        for start in range(0, len(hashes), 500):
            chunk = hashes[start:start + 500]
            for h, ph, thumb, w, hh, sharp, clipped, reason in self.store.db.execute(
                    f"SELECT hash, phash, thumb, width, height, sharpness, clipped, reason "
                    f"FROM looks WHERE hash IN ({','.join('?' * len(chunk))})", chunk):
                found[h] = Look(reason=reason) if reason else Look(
                    ph & (2 ** 64 - 1), thumb, w, hh, sharp, clipped)
        return found

    def put(self, looks: dict[str, Look]) -> None:
        """Record measured looks (one transaction)."""
        with self.store.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO looks(hash, phash, thumb, width, height, sharpness, "
                "clipped, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(h, _signed(k.phash), k.thumb, k.width, k.height, k.sharpness, k.clipped,
                  k.reason) for h, k in looks.items()])

    def looks_of(self, photos: dict[str, Path],
                 progress: Callable[[int, int], None] | None = None,
                 batch_seconds: float = 5.0) -> tuple[dict[str, Look], int]:
        """The look of every content of ``photos`` (hash -> a path of it): stored ones as
        they are, the others measured now and stored every ``batch_seconds`` (an
        interrupted run keeps them); also how many were measured."""
        looks = self.get(photos)
        missing = [h for h in photos if h not in looks]
        fresh: dict[str, Look] = {}
        last = time.monotonic()
        for n, h in enumerate(missing, 1):
            fresh[h] = measure(photos[h])
            if progress:
                progress(n, len(missing))
            if time.monotonic() - last > batch_seconds or n == len(missing):
                self.put(fresh)
                looks.update(fresh)
                fresh, last = {}, time.monotonic()
        return looks, len(missing)


def _signed(value: int) -> int:
    """A 64-bit hash as SQLite's signed integer."""
    return value - 2 ** 64 if value >= 2 ** 63 else value
