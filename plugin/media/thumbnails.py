"""Thumbnails: draft-mode decoded, EXIF-upright JPEGs (a video's: one of its frames), made
once and cached on disk.

Safe under concurrency: within a process, requests for the same thumbnail wait on one
lock (a fixed set of locks, striped by key, so memory stays bounded) while the first
makes it; across processes (the page and a contact sheet at once) each writer writes its
own temporary file and renames it into place with ``os.replace``, so a reader sees the
whole file or none.
"""
from __future__ import annotations

import hashlib
import io
import os
import tempfile
import threading
from contextlib import suppress
from pathlib import Path

import platformdirs
from PIL import Image

from photoplug.media.decode import decode
from photoplug.media.formats import is_video
from photoplug.media.video import frame_at

SIZE = 320
_LOCKS = tuple(threading.Lock() for _ in range(64))


def cache_dir() -> Path:
    return Path(os.environ.get("PHOTOPLUG_CACHE") or platformdirs.user_cache_dir("photoplug")) \
        / "thumbnails"


def _read(cached: Path) -> bytes | None:
    try:
        return cached.read_bytes()
    except FileNotFoundError:
        return None


def _write(cached: Path, data: bytes) -> None:
    """``data`` into ``cached`` atomically: a temporary file of its own, then a rename."""
    cached.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{cached.stem}.", suffix=".tmp", dir=cached.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, cached)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise


def thumbnail(path: Path, size: int = SIZE, time: float | None = None) -> bytes:
    """JPEG bytes of ``path`` fitted in ``size`` px (a video's frame at ``time`` seconds,
    its first without); cached by path, size, mtime and time, made once however many ask
    at the same time.

    Raises Unreadable (or OSError) when the photo cannot be read.
    """
    st = path.stat()
    at = "" if time is None else f"|{time}"
    key = hashlib.sha1(f"{path}|{st.st_size}|{st.st_mtime_ns}|{size}{at}".encode()).hexdigest()
    cached = cache_dir() / key[:2] / f"{key}.jpg"
    data = _read(cached)
    if data is not None:
        return data
    with _LOCKS[int(key[:8], 16) % len(_LOCKS)]:
        data = _read(cached)  # made while this request waited
        if data is not None:
            return data
        image = frame_at(path, time or 0.0, size) if is_video(path) else \
            decode(path.read_bytes(), path, size)
        image.thumbnail((size, size), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        image.save(buf, "JPEG", quality=85)
        data = buf.getvalue()
        _write(cached, data)
    return data
