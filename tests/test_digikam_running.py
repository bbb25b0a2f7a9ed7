"""A running digiKam: only one that uses this database stops (or, with --wait, delays) a write.

The "digiKam" processes here are real processes named ``digikam``: a copy of ``sleep``
(uses no database) and a copy of this Python interpreter that opens the database, as
digiKam keeps its ``digikam4.db`` open while it runs. HOME and XDG_CONFIG_HOME point at
temporary folders: nothing depends on this machine's own digiKam or its configuration.
"""
from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Iterator

import psutil
import pytest

from conftest import Cli, album_plan, keyword_plan
from digikam_fixtures import library_db
from photoplug.adapters.digikam.adapter import DigikamAdapter
from photoplug.adapters.digikam.process import Using, digikam_using, digikamrc
from photoplug.cli import main
from photoplug.hooks import LocationError, WriteOptions

HOLDER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("SELECT count(*) FROM Tags").fetchone()
print("open", flush=True)
sys.stdin.read()  # until the test closes our stdin
"""


@pytest.fixture
def collection(tmp_path: Path) -> Path:
    db = tmp_path / "db" / "digikam4.db"
    db.parent.mkdir()
    library_db(db, tmp_path / "pictures")
    return db


def home_env(home: Path) -> dict[str, str]:
    """An environment whose digiKam configuration lives under ``home``."""
    return {"PATH": os.environ.get("PATH", ""), "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"), "LOCALAPPDATA": str(home / "AppData")}


def write_digikamrc(home: Path, database_name: str) -> None:
    rc = digikamrc(home_env(home))
    rc.parent.mkdir(parents=True, exist_ok=True)
    rc.write_text("[General Settings]\n1600x1000 screen: Width=1600\n\n[Database Settings]\n"
                  f"Database Name[$e]={database_name}\nDatabase Type=QSQLITE\n")


@contextmanager
def fake_digikam(tmp_path: Path, program: str, *args: str, home: Path | None = None,
                 name: str = "digikam") -> Iterator[subprocess.Popen[str]]:
    """A process called ``name`` running a copy of ``program``; stopped afterwards."""
    source = Path(shutil.which(program) or program).resolve()
    folder = tmp_path / f"bin-{source.name}"
    folder.mkdir(exist_ok=True)
    exe = folder / name
    shutil.copy(source, exe)
    proc = subprocess.Popen([str(exe), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=home_env(home or tmp_path / "home"))
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


@contextmanager
def holding(tmp_path: Path, db: Path, name: str = "digikam"
            ) -> Iterator[subprocess.Popen[str]]:
    """A "digiKam" that has ``db`` open until its stdin is closed."""
    with fake_digikam(tmp_path, sys.executable, "-c", HOLDER, str(db), name=name) as proc:
        assert proc.stdout.readline().strip() == "open"
        yield proc


def test_a_digikam_on_another_database_does_not_block(collection: Path,
                                                      tmp_path: Path) -> None:
    with fake_digikam(tmp_path, "sleep", "600") as other:
        assert psutil.Process(other.pid).name() == "digikam"
        assert digikam_using(collection) is None
        report = DigikamAdapter().open(str(collection)).write(keyword_plan({"1": ["x"]}),
                                                               WriteOptions())
        assert report.changes


def test_a_digikam_holding_the_database_blocks_unless_forced(collection: Path,
                                                             tmp_path: Path) -> None:
    with holding(tmp_path, collection) as digikam:
        assert digikam_using(collection) == Using(digikam.pid, collection, "open")
        before = collection.read_bytes()
        with pytest.raises(LocationError, match=rf"^digiKam has {collection} open \(pid "
                                                rf"{digikam.pid}\): close it first.*--wait"):
            DigikamAdapter().open(str(collection)).write(album_plan({"a": ["1"]}), WriteOptions())
        assert collection.read_bytes() == before
        dry = DigikamAdapter().open(str(collection)).write(album_plan({"a": ["1"]}),
                                                            WriteOptions(dry_run=True))
        assert dry.changes and collection.read_bytes() == before
        forced = DigikamAdapter().open(str(collection))
        assert forced.write(album_plan({"a": ["1"]}), WriteOptions(force=True)).changes


@pytest.mark.parametrize("name, counts", [("digiKam", True), ("digikam.exe", True),
                                           ("showfoto", False)])
def test_process_names_of_every_platform(name: str, counts: bool, collection: Path,
                                         tmp_path: Path) -> None:
    """macOS's digiKam, Windows' digikam.exe; showfoto (digiKam's editor) has no tags."""
    with holding(tmp_path, collection, name) as proc:
        using = digikam_using(collection)
        assert (using == Using(proc.pid, collection, "open")) if counts else using is None


def test_its_configuration_decides_where_its_open_files_are_hidden(
        collection: Path, tmp_path: Path, monkeypatch) -> None:
    """Another user's digiKam: its open files cannot be read, its configuration can."""
    hidden: set[int] = set()
    readable = psutil.Process.open_files

    def open_files(self: psutil.Process) -> list:
        if self.pid in hidden:
            raise psutil.AccessDenied(self.pid)
        return readable(self)
    monkeypatch.setattr(psutil.Process, "open_files", open_files)

    def seen(digikam: subprocess.Popen[str]) -> str | None:
        hidden.add(digikam.pid)
        using = digikam_using(collection)
        return using.evidence if using and using.pid == digikam.pid else None
    home = collection.parent.parent  # the database lies under $HOME/db/
    write_digikamrc(home, "$HOME/db/")  # a KConfig path entry, as digiKam reads it
    with fake_digikam(tmp_path, "sleep", "600", home=home) as digikam:
        assert seen(digikam) == "configured"
    other = tmp_path / "other-home"
    write_digikamrc(other, str(tmp_path / "elsewhere"))
    with fake_digikam(tmp_path, "sleep", "600", home=other) as digikam:
        assert seen(digikam) is None
    with fake_digikam(tmp_path, sys.executable, "-c", "import sys; sys.stdin.read()",
                      "--database-directory", str(collection.parent), home=other) as digikam:
        assert seen(digikam) == "configured"  # the command line wins
    with fake_digikam(tmp_path, "sleep", "600", home=tmp_path / "no-config") as digikam:
        assert seen(digikam) == "hidden"  # cannot tell: taken to use it


def test_every_writing_command_can_wait() -> None:
    commands = [main.commands["search"], main.commands["albums"].commands["sync"],
                main.commands["tag"], main.commands["undo"]]
    assert all("wait" in {p.name for p in c.params} for c in commands)


def start_waiting(cli: Cli, db: Path, *args: str) -> subprocess.Popen[str]:
    """``photoplug search … --save-album waited --wait`` once it says it waits."""
    argv = [str(Path(sys.executable).with_name("photoplug")), "search", "a photo",
            f"digikam:{db}", "--top", "2", "--save-album", "waited", "--wait", *args]
    # Ctrl-C's SIGINT as a terminal delivers it: a shell's background job (CI's runner,
    # `nohup`, `cmd &`) hands its children SIGINT ignored, and Python keeps it ignored
    writer = subprocess.Popen(argv, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                              text=True, env={**cli.env, "PYTHONFAULTHANDLER": "1"},
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    for line in writer.stderr:
        if "waiting" in line:
            assert line.startswith(f"digiKam has {db} open (pid ")
            assert line.rstrip().endswith("waiting for it to close…")
            return writer
    raise AssertionError(f"photoplug exited {writer.wait()} without waiting")


def saved(db: Path) -> list[tuple]:
    with closing(sqlite3.connect(db)) as con:
        return con.execute("SELECT name FROM Searches WHERE name LIKE 'photoplug%'").fetchall()


def test_wait_writes_once_digikam_closes_the_database(collection: Path, cli: Cli,
                                                      tmp_path: Path) -> None:
    cli("index", f"digikam:{collection}")
    with holding(tmp_path, collection) as digikam:
        writer = start_waiting(cli, collection)
        assert saved(collection) == []
        digikam.stdin.close()  # digiKam quits
        digikam.wait()
        rest = writer.communicate(timeout=120)[1]
    assert writer.returncode == 0, rest
    assert "waiting" not in rest, "said once"
    assert saved(collection) == [("photoplug: waited",)]


def test_ctrl_c_stops_the_wait_and_writes_nothing(collection: Path, cli: Cli,
                                                  tmp_path: Path) -> None:
    cli("index", f"digikam:{collection}")
    before = collection.read_bytes()
    with holding(tmp_path, collection):
        writer = start_waiting(cli, collection)
        writer.send_signal(signal.SIGINT)
        try:
            writer.communicate(timeout=60)
        except subprocess.TimeoutExpired:  # where it hangs: faulthandler's tracebacks
            writer.send_signal(signal.SIGABRT)
            _, said = writer.communicate(timeout=30)
            raise AssertionError(f"photoplug did not stop on Ctrl-C in 60 s:\n{said}")
    assert writer.returncode == 130
    assert collection.read_bytes() == before
