"""digiKam databases built only from real digiKam artefacts.

- digiKam 7.9's schema: the SQLite ``CreateDB``, ``CreateIndices`` and ``CreateTriggers``
  actions of Debian's ``/usr/share/digikam/database/dbconfig.xml``, then DBVersion 15.
- digiKam 8: ``../shared/fixtures/digikam/digikam8-library.sql`` (a real library dump),
  with its album root pointed at a test folder as digiKam does without udisks.
"""
from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import CLASSES, SHARED, draw_photo

DBCONFIG = Path("/usr/share/digikam/database/dbconfig.xml")
FIXTURES = SHARED / "fixtures" / "digikam"


def create_digikam7_db(path: Path) -> None:
    """An empty collection DB exactly as digiKam 7.9 creates it."""
    if not DBCONFIG.exists():
        pytest.fail(f"{DBCONFIG} is missing: install Debian's digikam-data (.ci/run does)")
    sqlite_db = next(d for d in ET.parse(DBCONFIG).getroot().iter("database")
                     if d.get("name") == "QSQLITE")
    actions = {a.get("name"): a for a in sqlite_db.iter("dbaction")}
    with sqlite3.connect(path) as db:
        for name in ("CreateDB", "CreateIndices", "CreateTriggers"):
            for statement in actions[name].iter("statement"):
                db.execute(statement.text)
        db.executemany("INSERT INTO Settings (keyword, value) VALUES (?, ?)",
                       [("DBVersion", "15"), ("DBVersionRequired", "15")])
    db.close()


def library_dump_db(path: Path, photos_dir: Path) -> list[tuple[int, str]]:
    """The real digiKam 8 library, its root rewritten to ``photos_dir`` and its 12 images
    drawn there (toy-clip shapes); returns (image id, class) pairs."""
    with sqlite3.connect(path) as db:
        db.executescript((FIXTURES / "digikam8-library.sql").read_text())
        db.execute("UPDATE AlbumRoots SET identifier=?, specificPath='/' WHERE id=1",
                   (f"volumeid:?path={photos_dir}",))
        rows = db.execute("SELECT i.id, a.relativePath, i.name FROM Images i "
                          "JOIN Albums a ON a.id=i.album ORDER BY i.id").fetchall()
    db.close()
    drawn = []
    for image_id, album, name in rows:
        colour, shape = CLASSES[(image_id * 5) % len(CLASSES)]
        draw_photo(photos_dir / album.strip("/") / name, colour, shape, seed=image_id,
                   size=(640, 480))
        drawn.append((image_id, f"{colour} {shape}"))
    return drawn


def dump(path: Path) -> list[str]:
    """Every row of every table, as SQL lines (sqlite3's iterdump)."""
    with sqlite3.connect(path) as db:
        lines = list(db.iterdump())
    db.close()
    return lines
