"""Which files photoplug reads, told by their extension: the stills Pillow opens (with its
HEIF and AVIF plug-ins), RAW files and videos.

Pillow is asked the first time a still's extension is needed, not when this module is
imported: listing the commands (every host's plug-in imports this) stays light.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Iterable

RAW_SUFFIXES = frozenset({".cr2", ".cr3", ".nef", ".nrw", ".arw", ".srw", ".dng", ".orf",
                          ".rw2", ".raf", ".pef", ".raw", ".3fr", ".erf", ".kdc", ".mrw", ".x3f"})
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".m4v", ".mkv", ".avi", ".webm", ".3gp", ".mts",
                            ".m2ts"})
NOT_READ = "not a format photoplug reads"
# Pillow's formats that are not pictures to search (stubs that need an outside handler,
# video, vector metafiles, PostScript documents, IPTC metadata)
_NOT_STILLS = frozenset({"BUFR", "GRIB", "HDF5", "MPEG", "WMF", "EPS", "IPTC"})


@functools.cache
def pillow_with_plugins() -> bool:
    """Pillow with pillow-heif's HEIF and AVIF openers registered; whether they are."""
    try:
        import pillow_heif
    except ImportError:  # pragma: no cover - a declared dependency; HEIC is then not read
        return False
    pillow_heif.register_heif_opener()
    return True


@functools.cache
def image_suffixes() -> frozenset[str]:
    """Every extension Pillow and its installed plug-ins open as a still."""
    from PIL import Image
    pillow_with_plugins()
    Image.init()
    return frozenset(ext for ext, fmt in Image.registered_extensions().items()
                     if fmt in Image.OPEN and fmt not in _NOT_STILLS) | {".mpo"}


@functools.cache
def photo_suffixes() -> frozenset[str]:
    """The stills photoplug reads: Pillow's and RAW files."""
    return image_suffixes() | RAW_SUFFIXES


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def not_read(path: Path) -> str:
    """The reason a file of a format photoplug does not read is skipped, with its
    extension (``status`` counts them by it)."""
    return f"{NOT_READ} ({path.suffix.lower() or 'no extension'})"


def live_motions(names: Iterable[str]) -> set[str]:
    """Of one folder's file names, the ``.MOV`` files that are a Live Photo's motion: those
    beside a still of the same name (any case), which stands for both."""
    names = list(names)
    stills = {Path(n).stem.lower() for n in names if Path(n).suffix.lower() in photo_suffixes()}
    return {n for n in names if Path(n).suffix.lower() == ".mov"
            and Path(n).stem.lower() in stills}
