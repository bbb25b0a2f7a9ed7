"""A record of every write photoplug made to a library, so ``undo`` reverses exactly those.

Stored as JSON inside the library's ``.photoplug/`` folder with the untouched originals
of every sidecar photoplug changed; saved atomically before each change it records.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VERSION = 1


@dataclass
class SidecarEntry:
    """One sidecar: whether photoplug created it, its original, what was added."""

    created: bool
    original: str | None  # file name under originals/, None when created
    written: str | None  # sha256 of the file right after photoplug's last write
    added: dict[str, list[str]] = field(default_factory=dict)


class Journal:
    """``ROOT/.photoplug/journal.json`` and ``ROOT/.photoplug/originals/``."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir
        self.file = state_dir / "journal.json"
        self.sidecars: dict[str, SidecarEntry] = {}
        self.albums: set[str] = set()
        if self.file.exists():
            data = json.loads(self.file.read_text(encoding="utf-8"))
            if data.get("version") != VERSION:
                raise ValueError(f"{self.file}: unknown journal version {data.get('version')}")
            self.sidecars = {k: SidecarEntry(**v) for k, v in data["sidecars"].items()}
            self.albums = set(data["albums"])

    def keep_original(self, sidecar: Path, digest: str) -> str:
        """Copy a sidecar's pre-photoplug content aside; return its name under originals/."""
        name = f"{digest}.xmp"
        target = self.dir / "originals" / name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(sidecar, target)
        return name

    def original_path(self, name: str) -> Path:
        return self.dir / "originals" / name

    def save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        data: dict[str, Any] = {
            "version": VERSION,
            "sidecars": {k: vars(v) for k, v in sorted(self.sidecars.items())},
            "albums": sorted(self.albums),
        }
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self.file)

    def clear(self) -> None:
        """Forget everything (after a complete undo)."""
        shutil.rmtree(self.dir / "originals", ignore_errors=True)
        self.file.unlink(missing_ok=True)
        self.sidecars, self.albums = {}, set()
