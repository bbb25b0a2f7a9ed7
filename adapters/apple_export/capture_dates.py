"""When a photo was taken, as the camera wrote it: EXIF DateTimeOriginal, else the XMP
sidecar's, else EXIF DateTimeDigitized. Read by Pillow (headers only, no decoding; any
file name is safe) and, for sidecars, from the XMP text itself."""
from __future__ import annotations

import re
from pathlib import Path

_EXIF_IFD = 0x8769
_DATE_TIME_ORIGINAL = 0x9003
_DATE_TIME_DIGITIZED = 0x9004
_EXIF_DATE = re.compile(r"^(\d{4}):(\d\d):(\d\d)[ T](\d\d):(\d\d):(\d\d)")
_XMP_DATE = re.compile(
    r"(?:exif:DateTimeOriginal|photoshop:DateCreated|xmp:CreateDate)"
    r"(?:\s*=\s*[\"']|>)\s*(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)(?::(\d\d))?")


def capture_date(photo: Path, sidecar: Path | None = None) -> str | None:
    """Local capture time as ``YYYY-MM-DDTHH:MM:SS``, or None when nothing records it."""
    exif = _exif_dates(photo)
    return exif.get(_DATE_TIME_ORIGINAL) or (sidecar and _xmp_date(sidecar)) or \
        exif.get(_DATE_TIME_DIGITIZED)


def _exif_dates(photo: Path) -> dict[int, str]:
    from PIL import Image  # here: importing the host's plug-in stays light
    try:
        with Image.open(photo) as img:
            ifd = img.getexif().get_ifd(_EXIF_IFD)
    except Exception:  # an unreadable photo has no date to give; indexing reports it
        return {}
    dates = {}
    for tag in (_DATE_TIME_ORIGINAL, _DATE_TIME_DIGITIZED):
        match = _EXIF_DATE.match(str(ifd.get(tag, "")).strip())
        if match and match[1] != "0000":
            y, mo, d, h, mi, s = match.groups()
            dates[tag] = f"{y}-{mo}-{d}T{h}:{mi}:{s}"
    return dates


def _xmp_date(sidecar: Path) -> str | None:
    try:
        text = sidecar.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    match = _XMP_DATE.search(text)
    if not match:
        return None
    y, mo, d, h, mi, s = match.groups()
    return f"{y}-{mo}-{d}T{h}:{mi}:{s or '00'}"
