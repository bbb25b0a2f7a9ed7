"""The real darktable, headless: a private X display (Xvfb), private config, cache and
home folders, a Lua snippet run once darktable is up, and darktable always stopped.

A run ends cleanly from Lua: the snippet's chunk is followed by darktable's own "quit"
action (``dt.gui.action("global/quit", …)``, what Ctrl+Q does), after which darktable
writes its settings, drops its lock files and exits. Should it not, its process group is
killed (SIGKILL: darktable ignores SIGTERM) and its lock files removed; what the snippet
did through darktable is already in its databases, which darktable writes at once.
Test libraries are made by darktable itself, importing toy-clip drawings.
"""
from __future__ import annotations

import os
import select
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing, contextmanager, suppress
from pathlib import Path
from typing import Iterator

import pytest

from conftest import draw_photo

DARKTABLE = shutil.which("darktable")
XVFB = shutil.which("Xvfb")
needs_darktable = pytest.mark.skipif(
    DARKTABLE is None or XVFB is None,
    reason="darktable and Xvfb are not installed here (apt-get install darktable xvfb; "
           ".ci/run does)")
# Two drawings of each class, small: darktable imports them in a second or two.
PICTURES = [("red", "circle"), ("red", "square"), ("green", "circle"), ("blue", "triangle"),
            ("yellow", "square"), ("purple", "circle")]
RUN_SECONDS, QUIT_SECONDS = 240, 60  # generous bounds on a busy machine; a run takes 3-30 s
# darktable 4.2 now and then hangs in its start-up under load, before any Lua command runs
# (two threads waiting on each other's lock); a run that never reached the command is
# started once more, said in the log. It also, rarely, segfaults in its main loop while
# handling the signals of a burst of imports; a setup snippet that can be repeated
# (``repeatable``: importing, tagging) is run once more then, with the crash in the log
START_SECONDS, STARTS = 120, 2
QUIT = 'dt.gui.action("global/quit", 0, "", "", 1.0)'
WRAPPER = """local dt = require "darktable"
io.open({started}, "w"):close()
local ok, result = pcall(dofile, {snippet})
local marker = io.open({marker}, "w")
marker:write(ok and ("ok\\n" .. tostring(result or "")) or ("error\\n" .. tostring(result)))
marker:close()
{quit}
"""


def lua_string(text: str) -> str:
    """A Lua long-bracket string holding ``text`` (a path: no "]==]" in it)."""
    assert "]==]" not in text
    return f"[==[{text}]==]"


@contextmanager
def x_display() -> Iterator[str]:
    """A fresh Xvfb; its display name. Xvfb picks a free number itself (-displayfd)."""
    read, write = os.pipe()
    xvfb = subprocess.Popen([XVFB, "-displayfd", str(write), "-screen", "0", "1280x800x24",
                             "-nolisten", "tcp"], pass_fds=(write,),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    try:
        ready, _, _ = select.select([read], [], [], 30)
        number = os.read(read, 64).decode().strip() if ready else ""
        if not number:
            raise AssertionError("Xvfb did not start")
        yield f":{number}"
    finally:
        os.close(read)
        xvfb.kill()
        xvfb.wait()


class Darktable:
    """darktable with its own config folder (``library.db``, ``data.db``, ``luarc``),
    cache and home, run headless once per ``run``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.configdir = root / "config"
        self.home = root / "home"
        self.configdir.mkdir(parents=True, exist_ok=True)
        self.home.mkdir(exist_ok=True)
        self.log = ""

    @property
    def library(self) -> Path:
        return self.configdir / "library.db"

    @property
    def data(self) -> Path:
        return self.configdir / "data.db"

    @property
    def location(self) -> str:
        return f"darktable:{self.configdir}"

    def env(self, display: str, extra: dict[str, str]) -> dict[str, str]:
        runtime = self.root / "runtime"
        runtime.mkdir(mode=0o700, exist_ok=True)
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.home),
                "XDG_CONFIG_HOME": str(self.home / ".config"),
                "XDG_CACHE_HOME": str(self.home / ".cache"),
                "XDG_DATA_HOME": str(self.home / ".local" / "share"),
                "XDG_RUNTIME_DIR": str(runtime), "DISPLAY": display, "LANG": "C.UTF-8",
                "NO_AT_BRIDGE": "1", "GDK_BACKEND": "x11", **extra}

    def run(self, lua: str, env: dict[str, str] | None = None, repeatable: bool = False
            ) -> str:
        """Start darktable, run the Lua chunk ``lua`` once it is up, then quit; returns
        what the chunk returned (as a string). Raises if the chunk failed or did not end.
        A ``repeatable`` chunk (one that gives the same result when run twice) is run once
        more if darktable crashed before it ended."""
        snippet, marker = self.root / "snippet.lua", self.root / "marker.txt"
        started = self.root / "started.txt"
        snippet.write_text(lua, encoding="utf-8")
        wrapper = self.root / "run.lua"
        wrapper.write_text(WRAPPER.format(snippet=lua_string(str(snippet)),
                                          started=lua_string(str(started)),
                                          marker=lua_string(str(marker)), quit=QUIT),
                           encoding="utf-8")
        args = [DARKTABLE, "--configdir", str(self.configdir), "--library", str(self.library),
                "--cachedir", str(self.root / "cache"), "--disable-opencl", "-t", "1",
                "--luacmd", f"dofile({lua_string(str(wrapper))})"]
        log, before = self.root / "darktable.log", ""
        for start in range(1, STARTS + 1):
            marker.unlink(missing_ok=True)
            started.unlink(missing_ok=True)
            with x_display() as display, log.open("w") as out:
                proc = subprocess.Popen(args, env=self.env(display, env or {}), stdout=out,
                                        stderr=subprocess.STDOUT, start_new_session=True)
                try:
                    finished = self._wait(proc, marker, started)
                finally:
                    self._kill(proc)
            crash = _crash(log.read_text(errors="replace"))
            if start == STARTS:
                break
            if not started.exists():
                before += f"start {start} hung before the Lua command ran: " \
                          f"{finished.strip()}\n"
            elif crash and repeatable and not marker.exists():
                before += f"start {start} crashed before the snippet ended, run again:\n" \
                          f"{crash}\n"
            else:
                break
        self.log = before + (crash or log.read_text(errors="replace")[-3000:]) + finished
        result = marker.read_text(encoding="utf-8") if marker.exists() else "missing\n"
        status, _, value = result.partition("\n")
        if status != "ok":
            raise AssertionError(f"the Lua snippet did not finish ({status}): {value}\n"
                                 f"{self.log}")
        return value

    @staticmethod
    def _wait(proc: subprocess.Popen[bytes], marker: Path, started: Path) -> str:
        """Until the snippet has written its marker and darktable has quit; what happened
        if not (its threads, where it hangs). A start that has not reached the Lua
        command in ``START_SECONDS`` is given up."""
        begun = time.monotonic()
        deadline = begun + RUN_SECONDS
        while not marker.exists() and proc.poll() is None:
            if not started.exists() and time.monotonic() > begun + START_SECONDS:
                return f"\nthe Lua command did not start within {START_SECONDS} s; " \
                       f"threads: {_threads(proc.pid)}"
            if time.monotonic() > deadline:
                return f"\nthe snippet did not finish within {RUN_SECONDS} s; " \
                       f"threads: {_threads(proc.pid)}"
            time.sleep(0.05)
        try:
            proc.wait(timeout=QUIT_SECONDS)
        except subprocess.TimeoutExpired:  # its work is done: committed, as darktable does
            return f"\ndarktable did not quit in {QUIT_SECONDS} s; threads: " \
                   f"{_threads(proc.pid)}"
        return ""

    def _kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL for darktable and anything it started; its lock files go with it."""
        if proc.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            for db in (self.library, self.data):
                db.with_name(db.name + ".lock").unlink(missing_ok=True)


def _crash(log: str) -> str:
    """Where darktable crashed, if it did: the first frames of the backtrace it printed
    (its crash handler runs gdb, then says where it wrote the backtrace), or ""."""
    if "backtrace written to" not in log:
        return ""
    at = log.find("\n#0 ")
    frames = [line for line in log[at + 1:].splitlines() if line.startswith("#")]
    return "darktable crashed:\n" + "\n".join(frames[:16])


def _threads(pid: int) -> str:
    """Each thread of a process: its name and the kernel function it waits in."""
    found = []
    for task in sorted(Path(f"/proc/{pid}/task").glob("*")):
        with suppress(OSError):
            found.append(f"{(task / 'comm').read_text().strip()}:{(task / 'wchan').read_text()}")
    return ", ".join(found)


IMPORT = """local dt = require "darktable"
-- one file at a time: darktable imports a single file before it returns (a folder given
-- on its command line is imported by a background job, racing the snippet)
local by_name = {{}}
for _, path in ipairs({{{paths}}}) do
  local image = dt.database.import(path)
  by_name[image.filename] = image
end
-- what a user has done: a tag, stars, a colour label, a capture date
local paris = dt.tags.create("places|Paris")
dt.tags.attach(paris, by_name["red_circle_0.jpg"])
dt.tags.attach(paris, by_name["green_circle_0.jpg"])
by_name["red_square_0.jpg"].rating = 4
by_name["blue_triangle_0.jpg"].red = true
by_name["yellow_square_1.jpg"].exif_datetime_taken = "2024:06:01 12:00:00"
-- and a tag of their own in photoplug's namespace
dt.tags.attach(dt.tags.create("photoplug|tags|mine"), by_name["purple_circle_0.jpg"])
return #dt.database
"""


def build_library(root: Path) -> tuple[Darktable, Path, dict[int, str]]:
    """A darktable library made by darktable importing a folder of toy-clip drawings (one
    by one, through its Lua API), with
    tags, a rating, a colour label and a capture date set through its Lua API; returns
    darktable, the pictures folder and each image's class by darktable's image id."""
    pictures = root / "pictures"
    for n, (colour, shape) in enumerate(PICTURES):
        for k in range(2):
            draw_photo(pictures / f"{colour}_{shape}_{k}.jpg", colour, shape,
                       seed=500 + 10 * n + k, size=(320, 240))
    darktable = Darktable(root / "darktable")
    paths = ", ".join(lua_string(str(p)) for p in sorted(pictures.iterdir()))
    count = darktable.run(IMPORT.format(paths=paths), repeatable=True)
    assert count == str(2 * len(PICTURES)), darktable.log
    with closing(sqlite3.connect(darktable.library)) as db:
        classes = {i: name.rsplit("_", 1)[0].replace("_", " ")
                   for i, name in db.execute("SELECT id, filename FROM images")}
    return darktable, pictures, classes


def copy_of(darktable: Darktable, root: Path) -> Darktable:
    """Another darktable home with a copy of ``darktable``'s config folder (the same
    pictures: their folder is written in the library)."""
    copy = Darktable(root)
    shutil.copytree(darktable.configdir, copy.configdir, dirs_exist_ok=True)
    return copy


def dump(path: Path) -> list[str]:
    """Every row of every table, as SQL lines (sqlite3's iterdump)."""
    with closing(sqlite3.connect(path)) as db:
        return list(db.iterdump())


def rows(path: Path, sql: str, *args: object) -> list[tuple]:
    with closing(sqlite3.connect(path)) as db, db:
        return db.execute(sql, args).fetchall()


def tagged(darktable: Darktable, name: str) -> set[int]:
    """The images darktable has this tag on."""
    with closing(sqlite3.connect(darktable.library)) as db:
        db.execute("ATTACH DATABASE ? AS data", (str(darktable.data),))
        return {i for (i,) in db.execute("SELECT t.imgid FROM tagged_images t JOIN data.tags d "
                                         "ON d.id = t.tagid WHERE d.name = ?", (name,))}


_MADE: list[tuple[Darktable, Path, dict[int, str]]] = []


@pytest.fixture(scope="session")
def made_by_darktable(tmp_path_factory: pytest.TempPathFactory
                      ) -> tuple[Darktable, Path, dict[int, str]]:
    """One library per test session (each module importing this fixture shares it), made
    by darktable (see ``build_library``)."""
    if DARKTABLE is None or XVFB is None:
        pytest.skip("darktable and Xvfb are not installed here")
    if not _MADE:
        _MADE.append(build_library(tmp_path_factory.mktemp("made-by-darktable")))
    return _MADE[0]


@pytest.fixture
def darktable(made_by_darktable: tuple[Darktable, Path, dict[int, str]],
              tmp_path: Path) -> Darktable:
    """A copy of that library of the test's own (with its own home folder)."""
    return copy_of(made_by_darktable[0], tmp_path / "darktable")


def logged_photoplug(folder: Path, real: str) -> tuple[Path, Path]:
    """An executable that notes each call's arguments (one JSON list a line) and then runs
    the real ``photoplug`` with them; it and its log."""
    log, script = folder / "calls.jsonl", folder / "logged photoplug"
    folder.mkdir(parents=True, exist_ok=True)
    script.write_text(f"#!{sys.executable}\nimport json, os, sys\n"
                      f"with open({str(log)!r}, 'a') as log:\n"
                      "    log.write(json.dumps(sys.argv[1:]) + '\\n')\n"
                      f"os.execv({real!r}, [{real!r}, *sys.argv[1:]])\n")
    script.chmod(0o755)
    return script, log


def tag_links(darktable: Darktable) -> set[tuple[str, int]]:
    """Every (tag name, image id) link in darktable's library."""
    with closing(sqlite3.connect(darktable.library)) as db:
        db.execute("ATTACH DATABASE ? AS data", (str(darktable.data),))
        return set(db.execute("SELECT d.name, t.imgid FROM tagged_images t JOIN data.tags d "
                              "ON d.id = t.tagid"))
