"""darktable's two SQLite databases and photoplug's changes to them.

``library.db`` lists the images (``images``: id, film_id, filename), the folders they are
in (``film_rolls``: id, folder) and which tags they carry (``tagged_images``: imgid, tagid,
position); ``data.db`` (in darktable's config folder) names the tags (``tags``: id, name),
each a whole path with ``|`` between levels, ``photoplug|albums|beach``. darktable attaches
``data.db`` to its library connection as ``data``; so does photoplug, and one transaction
covers both files.

photoplug writes only tags whose names start with ``photoplug|`` and their links, numbered
as darktable numbers them (``position``: the highest one's upper 32 bits plus one, per
link). ``position`` came with library version 30 (darktable 3.0); version 37 and data
version 9 are darktable 4.2's, the newest photoplug has checked: a newer library is read
but only written through darktable itself (the Lua module).
"""
from __future__ import annotations

import os
import re
import sys
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping
from urllib.parse import quote

from photoplug.hooks import LocationError

LIBRARY_VERSIONS = (30, 37)  # darktable 3.0 (tag positions) to 4.2
DATA_NEWEST = 9  # darktable 4.2
RELEASES = "darktable 3.0 to 4.2"
BUSY_SECONDS = 5.0  # how long to wait for darktable to finish a write of its own
ROOT = "photoplug"
SEPARATOR = "|"
NAME_BYTES, CUT = 255, "…"  # darktable's Lua API takes tag names of up to 256 bytes
COLUMNS: dict[str, dict[str, tuple[str, ...]]] = {  # every column photoplug uses
    "main": {"db_info": ("key", "value"), "images": ("id", "film_id", "filename"),
             "film_rolls": ("id", "folder"), "tagged_images": ("imgid", "tagid", "position")},
    "data": {"db_info": ("key", "value"), "tags": ("id", "name")},
}


def config_dir(env: Mapping[str, str] = os.environ) -> Path:
    """darktable's default config folder for a user with this environment."""
    if sys.platform == "win32" and env.get("LOCALAPPDATA"):
        return Path(env["LOCALAPPDATA"]) / "darktable"
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "darktable"


@dataclass(frozen=True)
class Versions:
    library: int
    data: int

    def writable(self) -> bool:
        low, high = LIBRARY_VERSIONS
        return low <= self.library <= high and self.data <= DATA_NEWEST


def _uri(path: Path, readonly: bool) -> str:
    return f"file:{quote(str(path))}" + ("?mode=ro" if readonly else "")


def connect(library: Path, data: Path, readonly: bool = True) -> sqlite3.Connection:
    """``library.db`` with ``data.db`` attached as ``data``, as darktable opens them."""
    db = sqlite3.connect(_uri(library, readonly), uri=True, timeout=BUSY_SECONDS,
                         isolation_level=None)
    try:
        for schema, path in (("main", library), ("data", data)):
            try:
                if schema == "data":
                    db.execute("ATTACH DATABASE ? AS data", (_uri(data, readonly),))
                db.execute(f"SELECT count(*) FROM {schema}.sqlite_master").fetchone()
            except sqlite3.DatabaseError as exc:
                raise _unreadable(path, schema, exc) from None
    except LocationError:
        db.close()
        raise
    return db


def _unreadable(path: Path, schema: str, exc: Exception) -> LocationError:
    if "locked" in str(exc):
        return LocationError(f"{path} is locked by another program (darktable?); try again "
                             f"when it is closed")
    return LocationError(f"{path} is not a darktable {schema_name(schema)} ({exc})")


def _version(db: sqlite3.Connection, schema: str) -> int:
    row = db.execute(f"SELECT value FROM {schema}.db_info WHERE key = 'version'").fetchone()
    return int(row[0])


def check(db: sqlite3.Connection, library: Path, data: Path) -> Versions:
    """The two databases' versions, once both are darktable's and have what photoplug uses."""
    paths = {"main": library, "data": data}
    for schema, tables in COLUMNS.items():
        try:
            for table, columns in tables.items():
                have = {c[1] for c in db.execute(f"PRAGMA {schema}.table_info({table})")}
                missing = [c for c in columns if c not in have]
                if missing:
                    raise LocationError(f"{paths[schema]} is not a darktable {schema_name(schema)}"
                                        f" (no {table}.{missing[0]})")
            version = _version(db, schema)
        except sqlite3.DatabaseError as exc:
            raise _unreadable(paths[schema], schema, exc) from None
        except (TypeError, ValueError):
            raise LocationError(f"{paths[schema]} has no darktable version number") from None
        if schema == "main" and version < LIBRARY_VERSIONS[0]:
            raise LocationError(f"{library} is a darktable library of version {version}; "
                                f"photoplug reads versions {LIBRARY_VERSIONS[0]} and newer "
                                f"(darktable 3.0 on): open it in a newer darktable first")
    return Versions(_version(db, "main"), _version(db, "data"))


def schema_name(schema: str) -> str:
    return "library (library.db)" if schema == "main" else "tag database (data.db)"


def check_writable(versions: Versions, library: Path) -> None:
    if not versions.writable():
        raise LocationError(
            f"{library} is a darktable library of version {versions.library} (data.db "
            f"{versions.data}), newer than photoplug knows ({RELEASES}): it can be indexed and "
            f"searched, and written from inside darktable with photoplug's Lua module "
            f"(`photoplug darktable install`), but photoplug does not write it directly")


def tag_name(*levels: str) -> str:
    """``photoplug|…`` from levels; a ``|`` inside a level becomes ``¦`` and a control
    character (a line break) a space, so every level stays one level and the name one line;
    a name longer than darktable's Lua API takes is cut (the Lua module does the same)."""
    clean = (re.sub(r"[\x00-\x1f\x7f]", " ", level.replace(SEPARATOR, "¦")) for level in levels)
    name = SEPARATOR.join([ROOT, *clean]).encode()
    if len(name) <= NAME_BYTES:
        return name.decode()
    return name[:NAME_BYTES - len(CUT.encode())].decode(errors="ignore") + CUT


def tags_named(db: sqlite3.Connection, names: Iterable[str]) -> dict[str, int]:
    """The ids of those of ``names`` that are tags (names compared exactly, as darktable
    does)."""
    found = {}
    for name in set(names):
        row = db.execute("SELECT id FROM data.tags WHERE name = ?", (name,)).fetchone()
        if row:
            found[name] = row[0]
    return found


def tagged(db: sqlite3.Connection, names: Iterable[str]) -> dict[str, set[int]]:
    """The images each tag is on (none for a tag that does not exist)."""
    ids = tags_named(db, names)
    return {name: {i for (i,) in db.execute("SELECT imgid FROM main.tagged_images WHERE "
                                           "tagid = ?", (ids[name],))} if name in ids else set()
            for name in names}


@dataclass
class LibraryOps:
    """Links to make and to take off, by tag name; photoplug's tags to delete; images to
    mark rejected and to take photoplug's reject off."""

    attach: dict[str, set[int]] = field(default_factory=dict)
    detach: dict[str, set[int]] = field(default_factory=dict)
    delete: list[str] = field(default_factory=list)
    reject: set[int] = field(default_factory=set)
    unreject: set[int] = field(default_factory=set)

    def empty(self) -> bool:
        return not (any(self.attach.values()) or any(self.detach.values()) or self.delete
                    or self.reject or self.unreject)

    def as_json(self) -> dict[str, dict[str, list[int]]]:
        """For the Lua module, which makes the same changes through darktable."""
        return {"attach": {n: sorted(i) for n, i in sorted(self.attach.items()) if i},
                "detach": {n: sorted(i) for n, i in sorted(self.detach.items()) if i}}


def plan_ops(db: sqlite3.Connection, attach: Mapping[str, set[int]],
             detach: Mapping[str, set[int]], exact: Mapping[str, set[int]]) -> LibraryOps:
    """What must change so that ``attach`` links exist, ``detach`` links do not, and each
    tag of ``exact`` is on exactly those images; images darktable no longer has are
    left out."""
    known = {i for (i,) in db.execute("SELECT id FROM main.images")}
    now = tagged(db, {*attach, *detach, *exact})
    ops = LibraryOps()
    for name, ids in exact.items():
        ops.attach[name] = (ids & known) - now[name]
        ops.detach[name] = now[name] - ids
    for name, ids in attach.items():
        ops.attach[name] = ops.attach.get(name, set()) | ((ids & known) - now[name])
    for name, ids in detach.items():
        ops.detach[name] = ops.detach.get(name, set()) | (ids & now[name])
    return ops


def reject_flags(db: sqlite3.Connection, image_ids: Iterable[int]) -> dict[int, bool]:
    """Whether darktable shows each of these images rejected (those it still has): the
    flag (8) darktable 3.0 and later sets, or the rating 6 older ones used."""
    ids = sorted(set(image_ids))
    out: dict[int, bool] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        out.update(db.execute(
            "SELECT id, (flags & 8) != 0 OR (flags & 7) = 6 FROM main.images WHERE id IN "
            f"({','.join('?' * len(chunk))})", chunk))
    return {i: bool(flag) for i, flag in out.items()}


def describe(db: sqlite3.Connection, ops: LibraryOps) -> list[str]:
    """One line per change, as a dry run and a real run report it."""
    existing = tags_named(db, [*ops.attach, *ops.delete])
    changes = []
    for name, ids in sorted(ops.attach.items()):
        if ids and name not in existing:
            changes.append(f"create tag {name}")
        if ids:
            changes.append(f"tag {len(ids)} photos {name}")
    changes += [f"untag {len(ids)} photos {name}" for name, ids in sorted(ops.detach.items())
                if ids]
    for name in sorted(ops.delete):
        if name in existing:
            (links,) = db.execute("SELECT count(*) FROM main.tagged_images WHERE tagid = ?",
                                  (existing[name],)).fetchone()
            changes.append(f"remove tag {name} ({links} photos)")
    if ops.reject:
        changes.append(f"reject {len(ops.reject)} photos")
    if ops.unreject:
        changes.append(f"take photoplug's reject off {len(ops.unreject)} photos")
    return changes


def apply_ops(db: sqlite3.Connection, ops: LibraryOps) -> None:
    """Make ``ops`` in the transaction open on ``db`` (creating the tags it needs)."""
    for name, ids in sorted(ops.detach.items()):
        tag_id = tags_named(db, [name]).get(name)
        if tag_id is not None:
            db.executemany("DELETE FROM main.tagged_images WHERE imgid = ? AND tagid = ?",
                           [(i, tag_id) for i in sorted(ids)])
    for name, ids in sorted(ops.attach.items()):
        if not ids:
            continue
        tag_id = tags_named(db, [name]).get(name)
        if tag_id is None:
            tag_id = db.execute("INSERT INTO data.tags (name) VALUES (?)", (name,)).lastrowid
        (top,) = db.execute("SELECT IFNULL(MAX(position), 0) FROM main.tagged_images").fetchone()
        base = (top >> 32) << 32
        db.executemany("INSERT INTO main.tagged_images (imgid, tagid, position) VALUES (?, ?, ?)",
                       [(i, tag_id, base + (n << 32)) for n, i in enumerate(sorted(ids), 1)])
    for tag_id in tags_named(db, ops.delete).values():
        db.execute("DELETE FROM main.tagged_images WHERE tagid = ?", (tag_id,))
        db.execute("DELETE FROM data.tags WHERE id = ?", (tag_id,))
    db.executemany("UPDATE main.images SET flags = flags | 8 WHERE id = ?",
                   [(i,) for i in sorted(ops.reject)])
    db.executemany("UPDATE main.images SET flags = flags & ~8 WHERE id = ?",
                   [(i,) for i in sorted(ops.unreject)])
