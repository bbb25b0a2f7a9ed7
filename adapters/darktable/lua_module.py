"""photoplug inside darktable: its Lua module, installed into a darktable config folder.

``install`` copies ``photoplug.lua`` into the folder's ``lua/`` (where darktable's
``require`` looks) with the path of this photoplug written in as the default executable,
and adds ``require "photoplug"`` to its ``luarc`` once; ``uninstall`` takes both out again
(and the ``lua/`` folder or ``luarc`` if nothing else is left in them).
"""
from __future__ import annotations

import os
import re
import sys
from importlib.resources import files
from pathlib import Path

from photoplug.adapters.darktable.process import darktable_using
from photoplug.hooks import LocationError

SCRIPT = "photoplug.lua"
REQUIRE = 'require "photoplug"'
MARK = "photoplug for darktable"  # in the first line of the module
DEFAULT = 'local DEFAULT_EXECUTABLE = "photoplug"'


def lua_literal(text: str) -> str:
    """``text`` as a Lua string literal."""
    escaped = "".join(c if c.isprintable() and c not in '"\\' else f"\\u{{{ord(c):X}}}"
                      for c in text)
    return f'"{escaped}"'


def this_executable() -> str:
    """The ``photoplug`` command of this installation (darktable started from a desktop
    menu rarely has the PATH of a shell), else the bare name."""
    name = "photoplug.exe" if sys.platform == "win32" else "photoplug"
    for folder in (Path(sys.executable).parent, Path(sys.argv[0]).parent):
        if (folder / name).is_file():
            return str((folder / name).absolute())
    return "photoplug"


def module_source(executable: str) -> str:
    source = files(__package__).joinpath(SCRIPT).read_text(encoding="utf-8")
    assert source.count(DEFAULT) == 1, "photoplug.lua lost its DEFAULT_EXECUTABLE line"
    return source.replace(DEFAULT, f"local DEFAULT_EXECUTABLE = {lua_literal(executable)}")


def _ours(script: Path) -> bool:
    with script.open(encoding="utf-8", errors="replace") as text:
        return MARK in text.readline()


def _requires(line: str) -> bool:
    return re.fullmatch(r"\s*require\s*\(?\s*[\"']photoplug[\"']\s*\)?\s*(--.*)?", line) is not None


def _running_note(configdir: Path) -> list[str]:
    running = darktable_using([configdir / "library.db", configdir / "data.db"])
    return [f"darktable is running (pid {running.pid}): restart it for this to take effect"] \
        if running else []


def install(configdir: Path, executable: str | None = None) -> list[str]:
    """Put the module into ``configdir``; returns what was done, one line each."""
    script = configdir / "lua" / SCRIPT
    if script.exists() and not _ours(script):
        raise LocationError(f"{script} exists and is not photoplug's module; move it aside")
    done = []
    source = module_source(executable or this_executable())
    if not script.exists() or script.read_text(encoding="utf-8") != source:
        script.parent.mkdir(parents=True, exist_ok=True)
        tmp = script.with_name(f".{SCRIPT}.{os.getpid()}.tmp")
        tmp.write_text(source, encoding="utf-8")
        os.replace(tmp, script)
        done.append(f"wrote {script}")
    luarc = configdir / "luarc"
    text = luarc.read_text(encoding="utf-8") if luarc.exists() else ""
    if not any(_requires(line) for line in text.splitlines()):
        ending = "" if not text or text.endswith("\n") else "\n"
        luarc.write_text(f"{text}{ending}{REQUIRE}\n", encoding="utf-8")
        done.append(f"added {REQUIRE} to {luarc}")
    if not done:
        return [f"photoplug's module is already installed in {configdir}"]
    return done + _running_note(configdir) + [
        "in darktable's lighttable, the photoplug module is in the right-hand panel"]


def uninstall(configdir: Path) -> list[str]:
    """Take the module out of ``configdir``; returns what was done, one line each."""
    done = []
    script = configdir / "lua" / SCRIPT
    if script.exists():
        if not _ours(script):
            raise LocationError(f"{script} is not photoplug's module; left as it is")
        script.unlink()
        done.append(f"removed {script}")
        try:
            script.parent.rmdir()
            done.append(f"removed the empty folder {script.parent}")
        except OSError:
            pass
    luarc = configdir / "luarc"
    if luarc.exists():
        lines = luarc.read_text(encoding="utf-8").splitlines(keepends=True)
        kept = [line for line in lines if not _requires(line.rstrip("\r\n"))]
        if kept != lines:
            if "".join(kept).strip():
                luarc.write_text("".join(kept), encoding="utf-8")
            else:
                luarc.unlink()
            done.append(f"took {REQUIRE} out of {luarc}")
    if not done:
        return [f"photoplug's module is not installed in {configdir}"]
    return done + _running_note(configdir)
