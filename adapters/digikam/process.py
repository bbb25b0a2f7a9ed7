"""Whether a running digiKam uses a given ``digikam4.db``, on Linux, macOS and Windows.

A digiKam process (named ``digikam``, ``digikam.exe``, macOS's ``digiKam``; not showfoto)
uses a database when it has the file open (digiKam keeps it open while it runs). Where
its open files cannot be read (another user's process), its configuration says:
``--database-directory`` on its command line, else ``[Database Settings] Database Name``
in its ``digikamrc`` (``--config FILE``, or the platform's place under its user's home).
A process that reveals neither is taken to use it: photoplug never writes beside a
digiKam it cannot see into.
"""
from __future__ import annotations

import configparser
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import psutil

NAMES = {"digikam", "digikam.exe"}  # compared case-folded
DB_NAME = "digikam4.db"


def digikamrc(env: Mapping[str, str] = os.environ, home: Path | None = None) -> Path | None:
    """Where digiKam keeps its configuration for a user with this environment."""
    home_dir = Path(env["HOME"]) if env.get("HOME") else home
    if sys.platform == "win32":
        local = env.get("LOCALAPPDATA")
        return Path(local) / "digikamrc" if local else None
    if home_dir is None:
        return None
    if sys.platform == "darwin":
        return home_dir / "Library" / "Preferences" / "digikamrc"
    config = env.get("XDG_CONFIG_HOME") or str(home_dir / ".config")
    return Path(config) / "digikamrc"


def database_settings(rc: Path) -> dict[str, str] | None:
    """``[Database Settings]`` of a digikamrc (keys lower-cased, KConfig's ``[$e]``
    markers dropped), or None when it cannot be read."""
    config = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    try:
        config.read_string(rc.read_text(encoding="utf-8", errors="replace"))
    except (OSError, configparser.Error):
        return None
    if not config.has_section("Database Settings"):
        return {}
    return {key.removesuffix("[$e]"): value
            for key, value in config.items("Database Settings")}


def _database_in(rc: Path, home: Path | None) -> Path | None:
    """The SQLite database a digikamrc points at; None when it names none or another type."""
    settings = database_settings(rc)
    if not settings or settings.get("database type", "QSQLITE").upper() != "QSQLITE":
        return None
    name = settings.get("database name", "")
    if home is not None:
        name = name.replace("$HOME", str(home))
    if not name:
        return None
    path = Path(name)  # a folder, or the file itself (DbEngineParameters::coreDatabaseFileSQLite)
    return path / DB_NAME if path.is_dir() else path


def _option(cmdline: list[str], name: str) -> str | None:
    for i, arg in enumerate(cmdline):
        if arg == name and i + 1 < len(cmdline):
            return cmdline[i + 1]
        if arg.startswith(name + "="):
            return arg[len(name) + 1:]
    return None


def _user_home(proc: psutil.Process) -> Path | None:
    try:
        import pwd
        return Path(pwd.getpwnam(proc.username()).pw_dir)
    except (ImportError, KeyError, psutil.Error):
        return None


def configured_database(proc: psutil.Process) -> Path | None:
    """The database this digiKam process is set up to use, or None if it cannot be read."""
    try:
        cmdline = proc.cmdline()
    except psutil.AccessDenied:
        cmdline = []
    folder = _option(cmdline, "--database-directory")
    if folder:
        return Path(folder) / DB_NAME
    try:
        env: Mapping[str, str] = proc.environ()
    except psutil.AccessDenied:
        env = {}
    home = Path(env["HOME"]) if env.get("HOME") else _user_home(proc)
    config = _option(cmdline, "--config")
    rc = Path(config) if config else digikamrc(env, home)
    return _database_in(rc, home) if rc else None


def _same(a: str | Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


@dataclass(frozen=True)
class Using:
    """A digiKam process that uses a database, and how photoplug knows."""

    pid: int
    db_path: Path
    evidence: str  # "open", "configured" or "hidden"

    def __str__(self) -> str:
        if self.evidence == "open":
            return f"digiKam has {self.db_path} open (pid {self.pid})"
        if self.evidence == "configured":
            return f"digiKam (pid {self.pid}) is set up to use {self.db_path}"
        return (f"digiKam (pid {self.pid}) may be using {self.db_path} (its open files and "
                f"settings cannot be read)")


def _evidence(proc: psutil.Process, db_path: Path) -> str | None:
    """How this digiKam process is seen to use ``db_path``; None when it does not."""
    try:
        return "open" if any(_same(f.path, db_path) for f in proc.open_files()) else None
    except psutil.AccessDenied:
        pass
    configured = configured_database(proc)
    if configured is None:
        return "hidden"
    return "configured" if _same(configured, db_path) else None


def digikam_using(db_path: Path) -> Using | None:
    """A running digiKam that uses ``db_path``, or None."""
    for proc in psutil.process_iter(["name"]):
        if (proc.info["name"] or "").casefold() not in NAMES:
            continue
        try:
            evidence = _evidence(proc, db_path)
        except psutil.NoSuchProcess:  # gone meanwhile, or a zombie
            continue
        if evidence:
            return Using(proc.pid, db_path, evidence)
    return None
