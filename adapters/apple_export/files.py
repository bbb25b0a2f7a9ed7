"""Which files of a Photos export make up one photo.

Photos (File > Export > Export Unmodified Originals) and ``osxphotos export`` write, per
asset: the original still (HEIC, JPEG, PNG, RAW...), for a Live Photo a ``.MOV`` with the
same name, an ``.AAE`` edit recipe, edited copies (Photos: ``IMG_E1234.JPG``; osxphotos:
``IMG_1234_edited.jpeg``) and perhaps an XMP sidecar. Files are grouped by the UUID the
export database gives them, else by folder and name with the edit marker taken off.
One group is one photo: its original still is what gets indexed; a video with no still
beside it (not a Live Photo) is an asset of its own, indexed as a video.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from photoplug.media.formats import VIDEO_SUFFIXES, image_suffixes, photo_suffixes

EDIT_SUFFIXES = frozenset({".aae"})
_OSXPHOTOS_EDITED = re.compile(r"^(?P<base>.+)_edited$", re.I)
_PHOTOS_EDITED = re.compile(r"^(?P<prefix>[A-Za-z]+_)E(?P<number>\d+)$")


@dataclass
class ExportedPhoto:
    """One Photos asset as exported: relative paths of its files, by role."""

    uuid: str | None
    originals: list[str] = field(default_factory=list)
    edited: list[str] = field(default_factory=list)
    videos: list[str] = field(default_factory=list)
    edits: list[str] = field(default_factory=list)

    @property
    def stills(self) -> list[str]:
        """Every still file of the photo, originals first."""
        return self.originals + self.edited

    @property
    def files(self) -> list[str]:
        """The files that show the asset, each given a sidecar: its stills, or for a video
        of its own the video."""
        return self.stills or self.videos

    @property
    def live_videos(self) -> list[str]:
        """A Live Photo's motion: the videos beside its still (they are not indexed)."""
        return self.videos if self.stills else []

    @property
    def primary(self) -> str:
        """The file to index: an original (a decodable format before RAW), else an edit,
        else (a video of its own) the video."""
        ranked = sorted(self.originals, key=lambda p: (
            PurePosixPath(p).suffix.lower() not in image_suffixes(), p.count("/"), p))
        return (ranked or self.edited or self.videos)[0]

    @property
    def key(self) -> str:
        """The photo's stable id: its Photos UUID, else the relative path of its primary."""
        return self.uuid or self.primary


def edit_base(stem: str) -> tuple[str, bool]:
    """A file stem without its edit marker, and whether it had one."""
    match = _OSXPHOTOS_EDITED.match(stem)
    if match:
        return match["base"], True
    match = _PHOTOS_EDITED.match(stem)
    if match:
        return match["prefix"] + match["number"], True
    return stem, False


def group_files(files: list[str], uuids: dict[str, str]) -> list[ExportedPhoto]:
    """Group relative file paths into photos. ``uuids`` maps ``normalise``d paths to UUIDs
    (empty without an export database); XMP sidecars and other files are left out."""
    from photoplug.adapters.apple_export.osxphotos_db import normalise

    stems = {_folder_stem(PurePosixPath(f)) for f in files}
    groups: dict[tuple[str, ...], ExportedPhoto] = {}
    for rel in sorted(files):
        path = PurePosixPath(rel)
        suffix = path.suffix.lower()
        if suffix not in photo_suffixes() | VIDEO_SUFFIXES | EDIT_SUFFIXES:
            continue
        base, marked = edit_base(path.stem)
        # IMG_E1234 is an edit only when its original IMG_1234 is beside it
        edited = marked and (str(path.parent), base.lower()) in stems
        uuid = uuids.get(normalise(rel))
        key = ("uuid", uuid) if uuid else \
            ("stem", str(path.parent), (base if edited else path.stem).lower())
        photo = groups.setdefault(key, ExportedPhoto(uuid))
        if suffix in VIDEO_SUFFIXES:
            photo.videos.append(rel)
        elif suffix in EDIT_SUFFIXES:
            photo.edits.append(rel)
        elif edited:
            photo.edited.append(rel)
        else:
            photo.originals.append(rel)
    return [g for g in groups.values() if g.stills or g.videos]


def _folder_stem(path: PurePosixPath) -> tuple[str, str]:
    return str(path.parent), path.stem.lower()
