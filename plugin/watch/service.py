"""Start the watcher at login: a systemd user unit on Linux, a launchd agent on macOS.
The writers are pure (text from arguments); ``install``/``uninstall`` put them in place
under ``home`` and enable them when the service manager is there."""
from __future__ import annotations

import os
import plistlib
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

UNIT_NAME = "photoplug-watch.service"
AGENT_LABEL = "org.photoplug.watch"


def unit_path(home: Path) -> Path:
    return home / ".config" / "systemd" / "user" / UNIT_NAME


def plist_path(home: Path) -> Path:
    return home / "Library" / "LaunchAgents" / f"{AGENT_LABEL}.plist"


def log_path(home: Path) -> Path:
    return home / "Library" / "Logs" / "photoplug-watch.log"


def systemd_quote(arg: str) -> str:
    """One ExecStart argument as systemd reads it: double-quoted, with backslash, quote,
    ``%`` (specifiers) and ``$`` (variables) escaped."""
    escaped = (arg.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
               .replace("$", "$$").replace("\n", "\\n"))
    return f'"{escaped}"'


def systemd_unit(argv: Sequence[str], environment: dict[str, str] | None = None) -> str:
    """The user unit running ``argv`` (``photoplug watch LOCATIONS ...``); its output goes
    to the journal (``journalctl --user -u photoplug-watch``)."""
    env = {"PYTHONUNBUFFERED": "1", **(environment or {})}
    lines = [
        "[Unit]",
        "Description=photoplug watch: keep the photo index, albums and keywords up to date",
        "",
        "[Service]",
        "Type=simple",
        "ExecStart=" + " ".join(systemd_quote(a) for a in argv),
        *(f"Environment={systemd_quote(f'{k}={v}')}" for k, v in sorted(env.items())),
        "Restart=on-failure",
        "RestartSec=30",
        "Nice=10",
        "",
        "[Install]",
        "WantedBy=default.target",
        "",
    ]
    return "\n".join(lines)


def launchd_plist(argv: Sequence[str], log: Path,
                  environment: dict[str, str] | None = None) -> bytes:
    """The launch agent running ``argv`` at login, kept alive; stdout and stderr to
    ``log``."""
    return plistlib.dumps({
        "Label": AGENT_LABEL,
        "ProgramArguments": list(argv),
        "EnvironmentVariables": {"PYTHONUNBUFFERED": "1", **(environment or {})},
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},
        "ThrottleInterval": 30,
        "ProcessType": "Background",
        "StandardOutPath": str(log),
        "StandardErrorPath": str(log),
    })


@dataclass
class Outcome:
    path: Path
    lines: list[str] = field(default_factory=list)  # what was done, or what to run


Runner = Callable[[list[str]], subprocess.CompletedProcess]


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def install(argv: Sequence[str], home: Path, platform: str = sys.platform,
            environment: dict[str, str] | None = None, run: Runner = _run,
            which: Callable[[str], str | None] = shutil.which) -> Outcome:
    """Write the unit (Linux) or agent (macOS) and enable it when the manager is here."""
    if platform == "darwin":
        path = plist_path(home)
        path.parent.mkdir(parents=True, exist_ok=True)
        log_path(home).parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(launchd_plist(argv, log_path(home), environment))
        load = ["launchctl", "load", "-w", str(path)]
        return _enable(path, [["launchctl", "unload", str(path)], load], "launchctl", run,
                       which, f"log: {log_path(home)}", ignore_first=True)
    if not platform.startswith("linux"):
        raise OSError(f"--install knows systemd (Linux) and launchd (macOS), not {platform}")
    path = unit_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(systemd_unit(argv, environment))
    return _enable(path, [["systemctl", "--user", "daemon-reload"],
                          ["systemctl", "--user", "enable", "--now", UNIT_NAME]],
                   "systemctl", run, which, "log: journalctl --user -u photoplug-watch -f")


def uninstall(home: Path, platform: str = sys.platform, run: Runner = _run,
              which: Callable[[str], str | None] = shutil.which) -> Outcome | None:
    """Stop, disable and remove the unit or agent; None when there was none."""
    if platform == "darwin":
        path = plist_path(home)
        cmds = [["launchctl", "unload", "-w", str(path)]]
        tool = "launchctl"
    else:
        path = unit_path(home)
        cmds = [["systemctl", "--user", "disable", "--now", UNIT_NAME]]
        tool = "systemctl"
    if not path.exists():
        return None
    outcome = Outcome(path)
    if which(tool):
        for cmd in cmds:
            done = run(cmd)
            outcome.lines.append(" ".join(cmd) + ("" if done.returncode == 0 else
                                                  f" (failed: {done.stderr.strip()})"))
    path.unlink()
    if tool == "systemctl" and which(tool):
        run(["systemctl", "--user", "daemon-reload"])
    outcome.lines.append(f"removed {path}")
    return outcome


def _enable(path: Path, cmds: list[list[str]], tool: str, run: Runner,
            which: Callable[[str], str | None], log: str,
            ignore_first: bool = False) -> Outcome:
    outcome = Outcome(path, [f"wrote {path}"])
    if not which(tool):
        outcome.lines += [f"{tool} is not here; to start it run:"] + [
            "  " + " ".join(cmd) for cmd in cmds[ignore_first:]]
        return outcome
    for n, cmd in enumerate(cmds):
        done = run(cmd)
        if done.returncode != 0 and not (ignore_first and n == 0):
            outcome.lines.append(f"{' '.join(cmd)} failed: {done.stderr.strip()}; run it "
                                 f"yourself once the problem is fixed")
            return outcome
        if not (ignore_first and n == 0):
            outcome.lines.append(" ".join(cmd))
    outcome.lines.append(log)
    return outcome


def service_argv(executable: str | None, args: Sequence[str]) -> list[str]:
    """``photoplug watch ARGS`` with the ``photoplug`` that runs now (absolute)."""
    exe = executable or shutil.which("photoplug") or str(
        Path(sys.executable).with_name("photoplug"))
    return [os.path.abspath(exe), "watch", *args]
