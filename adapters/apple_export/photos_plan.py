"""What photoplug wants Photos to hold: keywords per photo and albums, kept as one plan.

Photos cannot be written from outside a Mac, so write-back to an export folder builds a
plan, cumulative across runs, and renders it as an AppleScript to run on the Mac and as
JSON for osxphotos or other tools. Photos keywords are flat, so photoplug's are namespaced
(``photoplug/beach``): the undo script then removes exactly those. Albums live in a
top-level ``photoplug`` folder.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

VERSION = 1
KEYWORD_PREFIX = "photoplug/"
ALBUM_FOLDER = "photoplug"


@dataclass(frozen=True)
class PlannedPhoto:
    """How the script finds a photo in Photos: by UUID, else by file name and capture time."""

    uuid: str | None
    filename: str
    taken: str | None  # local capture time, YYYY-MM-DDTHH:MM:SS
    files: tuple[str, ...] = ()  # its files in the export, relative


@dataclass
class PhotosPlan:
    photos: dict[str, PlannedPhoto] = field(default_factory=dict)
    keywords: dict[str, list[str]] = field(default_factory=dict)
    albums: dict[str, list[str]] = field(default_factory=dict)
    removed: dict[str, list[str]] = field(default_factory=dict)  # keywords photoplug took off

    def empty(self) -> bool:
        return not self.keywords and not self.albums and not self.removed

    def prune(self) -> None:
        """Forget photos nothing in the plan refers to any more."""
        self.keywords = {k: v for k, v in self.keywords.items() if v}
        self.removed = {k: v for k, v in self.removed.items() if v}
        used = set(self.keywords) | set(self.removed) | \
            {i for ids in self.albums.values() for i in ids}
        self.photos = {k: v for k, v in self.photos.items() if k in used}

    def as_json(self) -> dict[str, Any]:
        """The plan as data: stable id (the Photos UUID where known) -> keywords,
        album -> stable ids, and how to find each photo. Sorted: same plan, same bytes."""
        return {
            "photoplug_plan": VERSION,
            "keyword_prefix": KEYWORD_PREFIX,
            "album_folder": ALBUM_FOLDER,
            "photos": {k: {**asdict(p), "files": list(p.files)}
                       for k, p in sorted(self.photos.items())},
            "keywords": {k: sorted(v) for k, v in sorted(self.keywords.items())},
            "albums": {k: sorted(v) for k, v in sorted(self.albums.items())},
            "removed": {k: sorted(v) for k, v in sorted(self.removed.items())},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PhotosPlan:
        if data.get("photoplug_plan") != VERSION:
            raise ValueError(f"unknown plan version {data.get('photoplug_plan')!r}")
        photos = {k: PlannedPhoto(v["uuid"], v["filename"], v["taken"], tuple(v["files"]))
                  for k, v in data["photos"].items()}
        return cls(photos, dict(data["keywords"]), dict(data["albums"]),
                   dict(data.get("removed", {})))

    @classmethod
    def load(cls, path: Path) -> PhotosPlan:
        if not path.exists():
            return cls()
        try:
            return cls.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: not a photoplug plan ({exc})") from None


def write_atomically(path: Path, text: str) -> bool:
    """Write ``text`` unless the file already holds exactly it; True when it changed."""
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return True


def plan_text(plan: PhotosPlan) -> str:
    return json.dumps(plan.as_json(), indent=1, ensure_ascii=False) + "\n"
