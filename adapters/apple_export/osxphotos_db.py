"""Photos UUIDs from an osxphotos export database (``.osxphotos_export.db``).

``osxphotos export`` records every file it writes with the UUID of the Photos asset it
came from. The database is read here with sqlite3, read-only; osxphotos is not needed.
osxphotos keys files by ``filepath_normalized``: the path relative to the export folder,
Unicode-normalised (NFD on macOS, NFC elsewhere) and lower-cased. ``normalise`` folds both
forms to one, so an export written on a Mac matches its files wherever they are read.
"""
from __future__ import annotations

import sqlite3
import unicodedata
from pathlib import Path

from photoplug.hooks import LocationError

EXPORT_DB = ".osxphotos_export.db"


def normalise(relative_path: str) -> str:
    """A relative path as a lookup key: NFC, case-folded, forward slashes."""
    return unicodedata.normalize("NFC", relative_path.replace("\\", "/")).lower()


def read_uuids(db_path: Path) -> dict[str, str]:
    """``normalise(relative path) -> UUID`` for every file the export recorded.

    Databases from osxphotos 0.49 on keep files in ``export_data``, older ones in
    ``files``; anything else is refused with a sentence that says so.
    """
    # a database with no write-ahead log beside it is opened immutable, so reading it
    # leaves no -wal/-shm files in the user's export; one being written is read as it is
    wal = db_path.with_name(db_path.name + "-wal").exists()
    try:
        conn = sqlite3.connect(f"{db_path.resolve().as_uri()}?"
                               f"{'mode=ro' if wal else 'immutable=1'}", uri=True)
    except sqlite3.Error as exc:
        raise LocationError(f"{db_path}: cannot open the osxphotos export database ({exc})") \
            from None
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        table = next((t for t in ("export_data", "files") if t in tables), None)
        if table is None:
            raise LocationError(f"{db_path}: not an osxphotos export database this version of "
                                f"photoplug knows (no export_data or files table)")
        rows = conn.execute(f"SELECT filepath_normalized, uuid FROM {table} "
                            f"WHERE uuid IS NOT NULL AND uuid != ''").fetchall()
    except sqlite3.DatabaseError as exc:
        raise LocationError(f"{db_path}: cannot read the osxphotos export database ({exc})") \
            from None
    finally:
        conn.close()
    return {normalise(path): uuid for path, uuid in rows}
