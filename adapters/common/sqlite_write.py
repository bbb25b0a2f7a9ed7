"""SQLite writes a host shares: a rotated backup before the first write, and one
``BEGIN IMMEDIATE`` transaction that turns "locked" or "busy" into one clear sentence."""
from __future__ import annotations

import sqlite3
import time
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

from photoplug.hooks import LocationError

KEEP_BACKUPS = 3


def connect_readonly(db_path: Path) -> sqlite3.Connection:
    """Open without any possibility of changing the file."""
    return sqlite3.connect(f"file:{quote(str(db_path))}?mode=ro", uri=True, timeout=10)


BACKUP_INFIX = ".photoplug-backup-"


def backup(db_path: Path, keep: int) -> tuple[Path, list[Path]]:
    """A consistent, timestamped copy of the database (SQLite's online backup); of
    photoplug's backups of it, only the newest ``keep`` stay. Returns the new one and
    those removed."""
    target = db_path.with_name(f"{db_path.name}{BACKUP_INFIX}"
                               f"{time.strftime('%Y%m%d-%H%M%S')}")
    n = 1
    while target.exists():
        target = target.with_name(f"{target.name}-{n}")
        n += 1
    with closing(connect_readonly(db_path)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)
    ours = sorted(db_path.parent.glob(f"{glob_escape(db_path.name)}{BACKUP_INFIX}*"),
                  key=lambda p: (p.stat().st_mtime, p.name))
    old = [p for p in ours if p != target][:max(0, len(ours) - max(keep, 1))]
    for path in old:
        path.unlink(missing_ok=True)
    return target, old


def glob_escape(name: str) -> str:
    """``name`` as a glob pattern that matches only itself."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)



@contextmanager
def immediate_transaction(db: sqlite3.Connection, path: Path, host: str,
                          commit: bool = True) -> Iterator[None]:
    """One transaction on ``db`` (opened with ``isolation_level=None``): committed when the
    block ends (rolled back instead without ``commit``: a dry run), rolled back on any error; a database another program holds is a
    ``LocationError`` naming ``host``, and the connection is closed either way."""
    try:
        db.execute("BEGIN IMMEDIATE")
        yield
        db.execute("COMMIT" if commit else "ROLLBACK")
    except sqlite3.OperationalError as exc:
        if db.in_transaction:
            db.execute("ROLLBACK")
        if "locked" in str(exc) or "busy" in str(exc):
            raise LocationError(f"{path} is locked by another program ({host}?); try again "
                                f"when it is closed") from None
        raise LocationError(f"{path}: {exc}") from None
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    finally:
        db.close()
