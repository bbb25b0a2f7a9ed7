"""Thumbnails: draft-mode decoded, EXIF-upright JPEGs, made once and cached on disk."""
from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import platformdirs
from PIL import Image

from photoplug.decode import decode

SIZE = 320


def cache_dir() -> Path:
    return Path(os.environ.get("PHOTOPLUG_CACHE") or platformdirs.user_cache_dir("photoplug")) \
        / "thumbnails"


def thumbnail(path: Path, size: int = SIZE) -> bytes:
    """JPEG bytes of ``path`` fitted in ``size`` px; cached by path, size and mtime.

    Raises Unreadable (or OSError) when the photo cannot be read.
    """
    st = path.stat()
    key = hashlib.sha1(f"{path}|{st.st_size}|{st.st_mtime_ns}|{size}".encode()).hexdigest()
    cached = cache_dir() / key[:2] / f"{key}.jpg"
    if cached.exists():
        return cached.read_bytes()
    image = decode(path.read_bytes(), path, size)
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=85)
    data = buf.getvalue()
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, cached)
    return data
