"""digiKam's SQLite collection database (``digikam4.db``): reading it and photoplug's writes.

The schema is digiKam's own (``dbconfig.xml``); photoplug adds rows only: tags under
one top-level ``photoplug`` tag (each marked in ``TagProperties`` so undo removes exactly
those), their ``ImageTags`` links, and saved searches named ``photoplug: …``. Tags are
found by ``(pid, name)``; digiKam's triggers keep ``TagsTree``.
"""
from __future__ import annotations

import os
import re
import sqlite3
import time
import xml.etree.ElementTree as ET
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

from photoplug.hooks import LocationError

SUPPORTED_VERSIONS = {15: "digiKam 7", 16: "digiKam 8"}
ROOT_TAG = "photoplug"
MARK = "photoplug"  # TagProperties.property on every tag photoplug created
SEARCH_PREFIX = "photoplug: "
ADVANCED_SEARCH = 2  # Searches.type digiKam uses for advanced (smart-album) searches
VISIBLE, IMAGE = 1, 1  # Images.status and Images.category digiKam uses for shown photos


@dataclass(frozen=True)
class AlbumRoot:
    id: int
    label: str
    path: Path | None  # None when not mounted here
    why_offline: str = ""


def connect_readonly(db_path: Path) -> sqlite3.Connection:
    """Open without any possibility of changing the file."""
    return sqlite3.connect(f"file:{quote(str(db_path))}?mode=ro", uri=True, timeout=10)


def check_version(db: sqlite3.Connection, db_path: Path) -> int:
    try:
        rows = dict(db.execute("SELECT keyword, value FROM Settings WHERE keyword IN "
                               "('DBVersion', 'DBVersionRequired')").fetchall())
    except sqlite3.DatabaseError as exc:
        raise LocationError(f"{db_path} is not a digiKam database ({exc})") from None
    try:
        version = int(rows.get("DBVersion", ""))
    except ValueError:
        raise LocationError(f"{db_path} has no digiKam DBVersion setting") from None
    if version not in SUPPORTED_VERSIONS:
        known = ", ".join(f"{v} ({name})" for v, name in SUPPORTED_VERSIONS.items())
        raise LocationError(f"{db_path} is a digiKam database of version {version}; "
                            f"photoplug supports {known}")
    return version


def _mount_of_uuid(uuid: str) -> Path | None:
    device = Path("/dev/disk/by-uuid") / uuid
    if not device.exists():
        return None
    real = os.path.realpath(device)
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            source, target = line.split()[:2]
            if os.path.realpath(source) == real:
                return Path(target.replace("\\040", " "))
    except OSError:
        return None
    return None


def resolve_root(identifier: str, specific_path: str) -> tuple[Path | None, str]:
    """Where an album root is on this machine, or None and why not.

    Forms digiKam writes: ``volumeid:?uuid=…`` (+ specificPath), ``volumeid:?path=…``
    (its form without a volume manager) and ``networkshareid:?mountpath=…``.
    """
    parts = urlsplit(identifier)
    query = parse_qs(parts.query)
    specific = (specific_path or "/").strip("/")
    if parts.scheme == "volumeid" and "path" in query:
        base = unquote(query["path"][0])
        if re.match(r"^[A-Za-z]:[/\\]", base) and os.name != "nt":
            return None, f"Windows path {base} is not on this machine"
        where = Path(base) / specific
        return (where, "") if where.is_dir() else (None, f"{where} is not mounted")
    if parts.scheme == "volumeid" and "uuid" in query:
        mount = _mount_of_uuid(query["uuid"][0])
        if mount is None:
            return None, f"the volume {query['uuid'][0]} is not mounted"
        where = mount / specific
        return (where, "") if where.is_dir() else (None, f"{where} is missing")
    if parts.scheme == "networkshareid":
        for mount in query.get("mountpath", []):
            where = Path(unquote(mount)) / specific
            if where.is_dir():
                return where, ""
        return None, f"the network share {', '.join(query.get('mountpath', []))} is not mounted"
    return None, f"unknown album root form {identifier!r}"


def album_roots(db: sqlite3.Connection) -> dict[int, AlbumRoot]:
    roots = {}
    for rid, label, identifier, specific in db.execute(
            "SELECT id, label, identifier, specificPath FROM AlbumRoots"):
        path, why = resolve_root(identifier or "", specific or "/")
        roots[rid] = AlbumRoot(rid, label or "", path, why)
    return roots


def tag_by_path(db: sqlite3.Connection, path: list[str]) -> int:
    """A tag's id from its path (``People/Anna``), looked up by (pid, name)."""
    pid = 0
    for name in path:
        row = db.execute("SELECT id FROM Tags WHERE pid = ? AND name = ?", (pid, name)).fetchone()
        if row is None:
            raise LocationError(f"digiKam has no tag {'/'.join(path)}")
        pid = row[0]
    return pid


def internal_tag(db: sqlite3.Connection, name: str) -> int:
    """digiKam's internal tag for a colour or pick label (-1 if never used: matches nothing)."""
    row = db.execute("SELECT t.id FROM Tags t JOIN Tags root ON root.id = t.pid "
                     "WHERE root.name = '_Digikam_Internal_Tags_' AND t.name = ?",
                     (name,)).fetchone()
    return row[0] if row else -1


def digikam_running() -> bool:
    """A digiKam process on this machine (it keeps tags in memory and would overwrite ours)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return False
    for entry in proc.iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "digikam":
                    return True
            except OSError:
                continue
    return False


def backup(db_path: Path) -> Path:
    """A consistent, timestamped copy of the database (SQLite's online backup)."""
    target = db_path.with_name(f"{db_path.name}.photoplug-backup-"
                               f"{time.strftime('%Y%m%d-%H%M%S')}")
    n = 1
    while target.exists():
        target = target.with_name(f"{target.name}-{n}")
        n += 1
    with closing(connect_readonly(db_path)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)
    return target


def search_xml(tag_id: int) -> str:
    """The smart-album query digiKam itself writes for "has tag ID"."""
    return ('<?xml version="1.0"?><search><group><field name="tagid" relation="equal">'
            f'{tag_id}</field></group></search>')


def search_tag_ids(query: str) -> set[int]:
    try:
        root = ET.fromstring(query)
    except ET.ParseError:
        return set()
    return {int(f.text) for f in root.iter("field")
            if f.get("name") == "tagid" and (f.text or "").strip().isdigit()}


class Writer:
    """photoplug's changes to one open transaction; every change is described."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.changes: list[str] = []

    def marked_tags(self) -> set[int]:
        return {t for (t,) in self.db.execute(
            "SELECT tagid FROM TagProperties WHERE property=?", (MARK,))}

    def tag(self, path: list[str]) -> int:
        """The id of photoplug/…/leaf, creating (and marking) what is missing."""
        pid = 0
        for depth, name in enumerate([ROOT_TAG, *path]):
            row = self.db.execute("SELECT id FROM Tags WHERE pid=? AND name=?",
                                  (pid, name)).fetchone()
            if row:
                pid = row[0]
                continue
            cur = self.db.execute("INSERT INTO Tags (pid, name) VALUES (?, ?)", (pid, name))
            pid = cur.lastrowid
            self.db.execute("INSERT INTO TagProperties (tagid, property, value) VALUES "
                            "(?, ?, ?)", (pid, MARK, "created"))
            self.changes.append(f"create tag {'/'.join([ROOT_TAG, *path][:depth + 1])}")
        return pid

    def _linked(self, tag_id: int) -> set[int]:
        return {i for (i,) in self.db.execute("SELECT imageid FROM ImageTags WHERE tagid=?",
                                              (tag_id,))}

    def link(self, tag_id: int, tag_name: str, image_ids: set[int]) -> None:
        new = sorted(image_ids - self._linked(tag_id))
        self.db.executemany("INSERT INTO ImageTags (imageid, tagid) VALUES (?, ?)",
                            [(i, tag_id) for i in new])
        if new:
            self.changes.append(f"tag {len(new)} photos {tag_name}")

    def unlink_others(self, tag_id: int, tag_name: str, image_ids: set[int]) -> None:
        gone = sorted(self._linked(tag_id) - image_ids)
        self.db.executemany("DELETE FROM ImageTags WHERE imageid=? AND tagid=?",
                            [(i, tag_id) for i in gone])
        if gone:
            self.changes.append(f"untag {len(gone)} photos {tag_name}")

    def saved_search(self, name: str, tag_id: int) -> None:
        """One smart album per photoplug album, updated in place."""
        full = SEARCH_PREFIX + name
        query = search_xml(tag_id)
        ours = self.marked_tags()
        for sid, old in self.db.execute("SELECT id, query FROM Searches WHERE type=? AND "
                                        "name=?", (ADVANCED_SEARCH, full)).fetchall():
            if search_tag_ids(old) <= ours:
                if old != query:
                    self.db.execute("UPDATE Searches SET query=? WHERE id=?", (query, sid))
                    self.changes.append(f"update smart album {full!r}")
                return
        self.db.execute("INSERT INTO Searches (type, name, query) VALUES (?, ?, ?)",
                        (ADVANCED_SEARCH, full, query))
        self.changes.append(f"create smart album {full!r}")

    def remove_all(self) -> None:
        """Undo: photoplug's searches and tags (links go with them via digiKam's triggers)."""
        ours = self.marked_tags()
        for sid, name, query in self.db.execute(
                "SELECT id, name, query FROM Searches WHERE substr(name, 1, ?) = ?",
                (len(SEARCH_PREFIX), SEARCH_PREFIX)).fetchall():
            ids = search_tag_ids(query)
            if ids and ids <= ours:
                self.db.execute("DELETE FROM Searches WHERE id=?", (sid,))
                self.changes.append(f"remove smart album {name!r}")
        depth = dict(self.db.execute("SELECT id, count(*) FROM TagsTree GROUP BY id"))
        for tag_id in sorted(ours, key=lambda t: -depth.get(t, 0)):
            if self.db.execute("SELECT 1 FROM Tags WHERE pid=?", (tag_id,)).fetchone():
                continue  # the user put a tag of their own below ours: keep both
            (name,) = self.db.execute("SELECT name FROM Tags WHERE id=?", (tag_id,)).fetchone() \
                or ("?",)
            links = self.db.execute("SELECT count(*) FROM ImageTags WHERE tagid=?",
                                    (tag_id,)).fetchone()[0]
            self.db.execute("DELETE FROM Tags WHERE id=?", (tag_id,))
            self.db.execute("DELETE FROM TagProperties WHERE tagid=?", (tag_id,))
            self.changes.append(f"remove tag {name} ({links} photos)")
