"""digiKam databases of DBVersion 10, 13, 15 and 16, built only from real digiKam artefacts.

- 15 (digiKam 7.9): the SQLite actions ``CreateDB``, ``CreateIndices`` and ``CreateTriggers``
  of Debian's ``/usr/share/digikam/database/dbconfig.xml``, then ``DBVersion`` and
  ``DBVersionRequired`` 15, as ``CoreDbSchemaUpdater::createDatabase`` writes them.
- 10 (digiKam 6.x): the same actions with the one later change undone. digiKam's
  ``UpdateSchemaFromV13ToV14`` is ``ALTER TABLE Albums ADD modificationDate DATETIME``, and
  the steps 10->11, 11->12, 12->13 and 14->15 hold no SQLite statement (their MySQL
  counterparts add and fix MySQL's TagsTree, and change collations: ``updateToVersion``
  in core/libs/database/coredb/coredbschemaupdater.cpp); so ``CREATE TABLE Albums`` runs
  without ``modificationDate``. This equals digiKam 6.3's own SQLite schema: its
  ``core/data/database/dbconfig.xml.cmake.in`` (KDE/digikam master of 2019-08-07, where
  ``schemaVersion()`` is 10) differs from 7.9's in that column only. Settings 10 and 10.
- 13 (a digiKam 6 database opened by an early digiKam 7): version 10, then 7.9's own
  ``UpdateSchemaFromV10ToV11``, ``V11ToV12`` and ``V12ToV13`` actions, and the settings
  ``performUpdateToVersion`` leaves: ``DBVersion`` 13, ``DBVersionRequired`` 5.
- 16 (digiKam 8): the real databases in ``../shared/fixtures/digikam/``; the library dump
  is loaded as it is, its album root pointed at a test folder as digiKam does without udisks.

The other versions get the same real digiKam 8 library, copied table by table into the
older schema (columns both have; digiKam's triggers rebuild ``TagsTree``).
"""
from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET
from contextlib import closing
from functools import cache
from pathlib import Path

import pytest

from conftest import CLASSES, SHARED, draw_photo

DBCONFIG = Path("/usr/share/digikam/database/dbconfig.xml")
FIXTURES = SHARED / "fixtures" / "digikam"
ALBUMS_V14_COLUMN = "modificationDate DATETIME,"  # what UpdateSchemaFromV13ToV14 adds
VERSIONS = (10, 13, 15, 16)


@cache
def sqlite_actions() -> dict[str, list[str]]:
    """digiKam 7.9's SQLite actions by name, each a list of statements."""
    if not DBCONFIG.exists():
        pytest.fail(f"{DBCONFIG} is missing: install Debian's digikam-data (.ci/run does)")
    sqlite_db = next(d for d in ET.parse(DBCONFIG).getroot().iter("database")
                     if d.get("name") == "QSQLITE")
    return {a.get("name"): [s.text for s in a.iter("statement")]
            for a in sqlite_db.iter("dbaction")}


def _as_created_by_digikam6(statement: str) -> str:
    if not statement.lstrip().startswith("CREATE TABLE Albums"):
        return statement
    assert statement.count(ALBUMS_V14_COLUMN) == 1, "dbconfig.xml's Albums changed"
    return statement.replace(ALBUMS_V14_COLUMN, "")


def upgrade(db: sqlite3.Connection, start: int, target: int) -> None:
    """digiKam's own SQLite update actions from version ``start`` to ``target``."""
    actions = sqlite_actions()
    for version in range(start, target):
        for statement in actions[f"UpdateSchemaFromV{version}ToV{version + 1}"]:
            db.execute(statement)
    db.executemany("REPLACE INTO Settings (keyword, value) VALUES (?, ?)",
                   [("DBVersion", str(target)), ("DBVersionRequired", "5")])


def create_digikam_db(path: Path, version: int = 15) -> None:
    """An empty collection database of DBVersion 10, 13 or 15, as the docstring above says."""
    actions = sqlite_actions()
    created = 15 if version == 15 else 10
    with closing(sqlite3.connect(path)) as db, db:
        for name in ("CreateDB", "CreateIndices", "CreateTriggers"):
            for statement in actions[name]:
                db.execute(statement if created == 15 else _as_created_by_digikam6(statement))
        db.executemany("INSERT INTO Settings (keyword, value) VALUES (?, ?)",
                       [("DBVersion", str(created)), ("DBVersionRequired", str(created))])
        if version != created:
            upgrade(db, created, version)


def _copy_library(source: sqlite3.Connection, path: Path) -> None:
    with closing(sqlite3.connect(path)) as db, db:
        tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
                  if t not in ("Settings", "TagsTree")]
        for table in tables:
            have = [c[1] for c in source.execute(f"PRAGMA table_info({table})")]
            cols = [c[1] for c in db.execute(f"PRAGMA table_info({table})") if c[1] in have]
            rows = source.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY rowid")
            db.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                           f"({', '.join('?' * len(cols))})", rows)


def library_db(path: Path, photos_dir: Path, version: int = 16) -> list[tuple[int, str]]:
    """The real digiKam 8 library in a database of ``version``, its root rewritten to
    ``photos_dir`` and its 12 images drawn there (toy-clip shapes); returns
    (image id, class) pairs."""
    dump = (FIXTURES / "digikam8-library.sql").read_text()
    if version == 16:
        with closing(sqlite3.connect(path)) as db:
            db.executescript(dump)
    else:
        create_digikam_db(path, version)
        with closing(sqlite3.connect(":memory:")) as source:
            source.executescript(dump)
            _copy_library(source, path)
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE AlbumRoots SET identifier=?, specificPath='/' WHERE id=1",
                   (f"volumeid:?path={photos_dir}",))
        rows = db.execute("SELECT i.id, a.relativePath, i.name FROM Images i "
                          "JOIN Albums a ON a.id=i.album ORDER BY i.id").fetchall()
    drawn = []
    for image_id, album, name in rows:
        colour, shape = CLASSES[(image_id * 5) % len(CLASSES)]
        draw_photo(photos_dir / album.strip("/") / name, colour, shape, seed=image_id,
                   size=(640, 480))
        drawn.append((image_id, f"{colour} {shape}"))
    return drawn


def schema(path: Path) -> dict[str, object]:
    """What a schema is made of: every table's columns in order, indices and triggers."""
    with closing(sqlite3.connect(path)) as db:
        tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type='table' "
                                           "ORDER BY name")]
        return {
            "columns": {t: [c[1:3] for c in db.execute(f"PRAGMA table_info({t})")]
                        for t in tables},
            "indices": sorted(db.execute("SELECT name, tbl_name, sql FROM sqlite_master "
                                         "WHERE type='index'")),
            "triggers": sorted(db.execute("SELECT name, sql FROM sqlite_master "
                                          "WHERE type='trigger'")),
        }


def dump(path: Path) -> list[str]:
    """Every row of every table, as SQL lines (sqlite3's iterdump)."""
    with closing(sqlite3.connect(path)) as db:
        return list(db.iterdump())
