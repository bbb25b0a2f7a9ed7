"""digiKam's SQLite collection database (``digikam4.db``): reading it and photoplug's writes.

The schema is digiKam's own (``dbconfig.xml``); photoplug adds rows only: tags under
one top-level ``photoplug`` tag (each marked in ``TagProperties`` so undo removes exactly
those), their ``ImageTags`` links, and saved searches named ``photoplug: …``. Tags are
found by ``(pid, name)``; digiKam's triggers keep ``TagsTree``.

Versions: digiKam 6.0 created DBVersion 10, the 7.x series went up to 15, digiKam 8 writes
16. For SQLite the steps between them (``UpdateSchemaFromV10ToV11`` … ``V15ToV16`` in
digiKam's ``dbconfig.xml``, run by ``CoreDbSchemaUpdater::updateToVersion``) touch nothing
photoplug reads or writes: 10->11, 11->12, 12->13 and 14->15 are MySQL-only, 13->14 adds
``Albums.modificationDate``, 15->16 ``AlbumRoots.caseSensitivity``. A newer database is
read (if it still has the columns below) but never written.
"""
from __future__ import annotations

import os
import re
import sqlite3
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from photoplug.hooks import LocationError

OLDEST, NEWEST = 10, 16  # DBVersion of digiKam 6.0 and of digiKam 8
RELEASES = "digiKam 6.0 to 8.x"
# Every column photoplug reads or writes (all present from DBVersion 10 on).
COLUMNS = {
    "Settings": ("keyword", "value"),
    "AlbumRoots": ("id", "label", "identifier", "specificPath"),
    "Albums": ("id", "albumRoot", "relativePath"),
    "Images": ("id", "album", "name", "status", "category"),
    "ImageInformation": ("imageid", "rating", "creationDate"),
    "Tags": ("id", "pid", "name"),
    "TagsTree": ("id", "pid"),
    "ImageTags": ("imageid", "tagid"),
    "TagProperties": ("tagid", "property", "value"),
    "Searches": ("id", "type", "name", "query"),
}
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


def check_version(db: sqlite3.Connection, db_path: Path) -> int:
    """The database's DBVersion, once it is known to be one photoplug can read."""
    try:
        row = db.execute("SELECT value FROM Settings WHERE keyword = 'DBVersion'").fetchone()
    except sqlite3.DatabaseError as exc:
        if "locked" in str(exc):
            raise LocationError(f"{db_path} is locked by another program (digiKam?); try "
                                f"again when it is closed") from None
        raise LocationError(f"{db_path} is not a digiKam database ({exc})") from None
    try:
        version = int(row[0])
    except (TypeError, ValueError):
        raise LocationError(f"{db_path} has no digiKam DBVersion setting") from None
    if version < OLDEST:
        raise LocationError(f"{db_path} is a digiKam database of version {version}; photoplug "
                            f"supports versions {OLDEST} to {NEWEST} ({RELEASES})")
    for table, columns in COLUMNS.items():
        have = {column[1] for column in db.execute(f"PRAGMA table_info({table})")}
        missing = [c for c in columns if c not in have]
        if missing:
            raise LocationError(f"{db_path} (digiKam database version {version}) has no "
                                f"{table}.{missing[0]}, which photoplug needs")
    return version


def check_writable(version: int, db_path: Path) -> None:
    """photoplug writes only the versions whose schema it knows."""
    if version > NEWEST:
        raise LocationError(f"{db_path} is a digiKam database of version {version}, newer "
                            f"than photoplug knows ({OLDEST} to {NEWEST}): it can be indexed "
                            f"and searched, but photoplug does not write to it")


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


def our_tag(db: sqlite3.Connection, path: list[str]) -> int | None:
    """The id of photoplug/…/leaf if it exists."""
    pid = 0
    for name in [ROOT_TAG, *path]:
        row = db.execute("SELECT id FROM Tags WHERE pid = ? AND name = ?", (pid, name)).fetchone()
        if row is None:
            return None
        pid = row[0]
    return pid


def tagged(db: sqlite3.Connection, path: list[str]) -> set[int]:
    """The images photoplug/…/leaf is on (none if there is no such tag)."""
    tag_id = our_tag(db, path)
    return set() if tag_id is None else {i for (i,) in db.execute(
        "SELECT imageid FROM ImageTags WHERE tagid = ?", (tag_id,))}


def internal_tag(db: sqlite3.Connection, name: str) -> int:
    """digiKam's internal tag for a colour or pick label (-1 if never used: matches nothing)."""
    row = db.execute("SELECT t.id FROM Tags t JOIN Tags root ON root.id = t.pid "
                     "WHERE root.name = '_Digikam_Internal_Tags_' AND t.name = ?",
                     (name,)).fetchone()
    return row[0] if row else -1


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

    def unlink(self, tag_id: int, tag_name: str, image_ids: set[int]) -> None:
        gone = sorted(self._linked(tag_id) & image_ids)
        self.db.executemany("DELETE FROM ImageTags WHERE imageid=? AND tagid=?",
                            [(i, tag_id) for i in gone])
        if gone:
            self.changes.append(f"untag {len(gone)} photos {tag_name}")

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
