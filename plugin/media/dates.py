"""When a photo was taken: its EXIF capture date, else the file's modification time."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from PIL import Image, UnidentifiedImageError

_EXIF_IFD = 0x8769
_DATE_TIME_ORIGINAL = 0x9003
_DATE_TIME = 0x0132


def capture_date(path: Path) -> tuple[datetime | None, str]:
    """The capture date and where it came from (``exif``, ``file``), or (None, "") for a
    file that cannot be read at all. Only the header is read."""
    try:
        with Image.open(path) as image:
            exif = image.getexif()
            found = exif.get_ifd(_EXIF_IFD).get(_DATE_TIME_ORIGINAL) or exif.get(_DATE_TIME)
        if found:
            return datetime.strptime(str(found).strip("\0 ")[:19], "%Y:%m:%d %H:%M:%S"), "exif"
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError):
        pass  # not an image Pillow reads (a video, a RAW file), or a malformed date
    try:
        return datetime.fromtimestamp(path.stat().st_mtime), "file"
    except OSError:
        return None, ""
