"""Keywords in XMP sidecars, read and written by exiftool, merged and never dropped.

photoplug's keyword ``beach`` is written as ``dc:subject`` "beach" (what every viewer
shows), ``lr:hierarchicalSubject`` "photoplug|beach" (Lightroom) and ``digiKam:TagsList``
"photoplug/beach" (digiKam); a host that keeps keywords deeper (digiKam's database:
``photoplug/tags/beach``) passes those parent tags, so its sidecars name the same tag.
exiftool always works on a copy with a plain name in a private temp folder, so any file
name (leading dash, newline, unicode) is safe, and the result replaces the sidecar
atomically.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import exiftool
from exiftool.exceptions import ExifToolException

from photoplug.hooks import LocationError

NAMESPACE = "photoplug"
FIELDS = ("XMP-dc:Subject", "XMP-lr:HierarchicalSubject", "XMP-digiKam:TagsList")


class SidecarError(Exception):
    """exiftool could not read or write a sidecar (broken XML, say); it was left untouched."""


def field_values(keyword: str, fields: tuple[str, ...] = FIELDS,
                 parents: tuple[str, ...] = (NAMESPACE,)) -> dict[str, str]:
    """The value each of ``fields`` gets for one photoplug keyword under ``parents``."""
    path = [*parents, *keyword.replace("|", "/").strip("/").split("/")]
    values = {
        "XMP-dc:Subject": path[-1],
        "XMP-lr:HierarchicalSubject": "|".join(path),
        "XMP-digiKam:TagsList": "/".join(path),
    }
    return {f: values[f] for f in fields}


def sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def not_started(exc: Exception) -> str:
    """Why exiftool could not be started, in one line."""
    if isinstance(exc, FileNotFoundError):
        return ("exiftool is not installed, and photoplug writes XMP sidecars with it "
                "(Debian/Ubuntu: apt install libimage-exiftool-perl; macOS: brew install "
                "exiftool)")
    probe = os.open(os.devnull, os.O_RDONLY)
    os.close(probe)
    if probe >= 1024:  # pyexiftool waits on exiftool's pipes with select()
        return ("exiftool could not be started: this process has over 1,000 files open, "
                "and exiftool's pipes must be numbered below 1024")
    return f"exiftool could not be started ({exc})"


class Sidecars:
    """One exiftool process for a batch of sidecar reads and writes."""

    def __enter__(self) -> Sidecars:
        self._tmp = tempfile.TemporaryDirectory(prefix="photoplug-xmp-")
        try:
            self._et = exiftool.ExifToolHelper(common_args=["-charset", "filename=utf8"])
            self._et.__enter__()
        except (OSError, ExifToolException, ValueError) as exc:
            self._tmp.cleanup()
            raise LocationError(not_started(exc)) from None
        return self

    def __exit__(self, *exc: object) -> None:
        self._et.__exit__(*exc)
        self._tmp.cleanup()

    def _scratch(self, sidecar: Path) -> Path:
        scratch = Path(self._tmp.name) / "sidecar.xmp"
        scratch.unlink(missing_ok=True)
        if sidecar.exists():
            shutil.copyfile(sidecar, scratch)
        return scratch

    def read(self, sidecar: Path, fields: tuple[str, ...] = FIELDS) -> dict[str, list[str]]:
        """The values of keyword ``fields`` (all keywords, the user's too)."""
        if not sidecar.exists():
            return {f: [] for f in fields}
        scratch = self._scratch(sidecar)
        try:
            out = self._et.execute_json("-struct", "-G0:1", *[f"-{f}" for f in fields],
                                        str(scratch))[0]
        except (ExifToolException, ValueError, IndexError) as exc:
            raise SidecarError(f"{sidecar.name}: exiftool cannot read it ({exc})") from None
        if not any(k.startswith("XMP") for k in out) and sidecar.stat().st_size and \
                "XMP" not in self._et.execute("-FileType", str(scratch)):
            raise SidecarError(f"{sidecar.name}: not a readable XMP file")
        values: dict[str, list[str]] = {}
        for name in fields:
            group, tag = name.split(":")
            raw = out.get(f"XMP:{group}:{tag}", [])
            values[name] = [str(v) for v in (raw if isinstance(raw, list) else [raw])]
        return values

    def edit(self, sidecar: Path, add: dict[str, list[str]], remove: dict[str, list[str]]
             ) -> None:
        """Add and remove field values, keeping everything else; replace the file atomically."""
        args = [f"-{f}-={v}" for f, vals in remove.items() for v in vals]
        args += [f"-{f}+={v}" for f, vals in add.items() for v in vals]
        if not args:
            return
        scratch = self._scratch(sidecar)
        try:
            self._et.execute("-overwrite_original", "-m", *args, str(scratch))
        except ExifToolException as exc:
            raise SidecarError(f"{sidecar.name}: exiftool could not write it ({exc})") from None
        if not scratch.exists() or "error" in (self._et.last_stderr or "").lower():
            raise SidecarError(f"{sidecar.name}: exiftool could not write it "
                               f"({(self._et.last_stderr or '').strip()[:160]})")
        tmp = sidecar.with_name(f".{os.getpid()}.photoplug-tmp.xmp")
        shutil.copyfile(scratch, tmp)
        os.replace(tmp, sidecar)
