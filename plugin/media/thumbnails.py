"""Thumbnails: draft-mode decoded, EXIF-upright JPEGs (a video's: one of its frames), made
once and cached on disk."""
from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import platformdirs
from PIL import Image

from photoplug.media.decode import decode
from photoplug.media.video import frame_at, is_video

SIZE = 320


def cache_dir() -> Path:
    return Path(os.environ.get("PHOTOPLUG_CACHE") or platformdirs.user_cache_dir("photoplug")) \
        / "thumbnails"


def thumbnail(path: Path, size: int = SIZE, time: float | None = None) -> bytes:
    """JPEG bytes of ``path`` fitted in ``size`` px (a video's frame at ``time`` seconds,
    its first without); cached by path, size, mtime and time.

    Raises Unreadable (or OSError) when the photo cannot be read.
    """
    st = path.stat()
    at = "" if time is None else f"|{time}"
    key = hashlib.sha1(f"{path}|{st.st_size}|{st.st_mtime_ns}|{size}{at}".encode()).hexdigest()
    cached = cache_dir() / key[:2] / f"{key}.jpg"
    if cached.exists():
        return cached.read_bytes()
    image = frame_at(path, time or 0.0, size) if is_video(path) else \
        decode(path.read_bytes(), path, size)
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=85)
    data = buf.getvalue()
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, cached)
    return data
