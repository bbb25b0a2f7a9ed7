"""``photoplug watch`` with real file events: a watcher subprocess over a folder, pictures
copied, written slowly, copied by the fifty, deleted; killed mid-batch and restarted; a
second watcher refused; and the systemd / launchd files it installs (under a tmp HOME)."""
from __future__ import annotations

import os
import plistlib
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import Cli, draw_photo, pause_after_rows, wait_for
from test_albums import toy_vocabulary
from photoplug.watch import service
from photoplug.watch.follow import Changes
from photoplug.watch.lock import WatchLock, running_watcher

RED_ALBUM = """
[[album]]
name = "red things"
prompts = ["a photo of a red circle", "a photo of a red square", "a photo of a red triangle"]
threshold = "auto"
"""
PHOTOPLUG = str(Path(sys.executable).with_name("photoplug"))
SIZE = (400, 300)


class Watcher:
    """``photoplug watch FOLDER`` as a subprocess, its stdout and stderr in a log file."""

    def __init__(self, cli: Cli, tmp: Path, folder: Path, *args: str,
                 env: dict[str, str] | None = None, name: str = "watch") -> None:
        self.log = tmp / f"{name}.log"
        argv = [PHOTOPLUG, "watch", str(folder), "--model", cli.model, *args]
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                         env={**cli.env, **(env or {})})

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines()

    def runs(self) -> list[str]:
        """One line per indexing run."""
        return [line for line in self.lines() if line.startswith("indexed ")]

    def wait_line(self, pattern: str, timeout: float = 60, count: int = 1) -> float:
        """Wait until ``count`` log lines match ``pattern``; the seconds it took."""
        started = time.monotonic()

        def seen() -> bool:
            if self.proc.poll() is not None and len(self.matching(pattern)) < count:
                raise AssertionError(f"the watcher exited {self.proc.returncode}:\n"
                                     + self.log.read_text())
            return len(self.matching(pattern)) >= count
        try:
            wait_for(seen, f"{count} x {pattern!r} in the watcher's log", timeout)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- log ---\n{self.log.read_text()}") from None
        return time.monotonic() - started

    def matching(self, pattern: str) -> list[str]:
        return [line for line in self.lines() if re.search(pattern, line)]

    def ready(self) -> "Watcher":
        self.wait_line(r"^indexed .*\(catching up\)", timeout=120)
        return self

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                raise AssertionError("the watcher did not stop within 30 s of SIGTERM")


@pytest.fixture
def watchers():
    started: list[Watcher] = []
    yield started
    for w in started:
        if w.proc.poll() is None:
            w.proc.kill()
            w.proc.wait(timeout=10)


def picture(staging: Path, name: str, colour: str, shape: str, seed: int) -> Path:
    return draw_photo(staging / name, colour, shape, seed=seed, size=SIZE)


def searched(cli: Cli, query: str, top: int = 5) -> list[str]:
    out = cli("search", query, "--paths", "--top", str(top), model=False).stdout
    return [Path(line).name for line in out.splitlines() if line.strip()]


def indexed_count(cli: Cli) -> int:
    return sum(r["indexed"] for r in cli.json("status", model=False)["locations"])


@pytest.fixture
def toy_env(tmp_path: Path) -> dict[str, str]:
    vocabulary = tmp_path / "toy.txt"
    vocabulary.write_text(toy_vocabulary())
    albums = tmp_path / "albums.toml"
    albums.write_text(RED_ALBUM)
    return {"PHOTOPLUG_VOCABULARY": str(vocabulary), "PHOTOPLUG_ONLY_MINE": "1",
            "ALBUMS": str(albums)}


def test_a_copied_picture_is_searchable_in_its_album_then_leaves(
        toy_cli: Cli, tmp_path: Path, toy_env: dict[str, str], watchers: list) -> None:
    folder, staging = tmp_path / "photos", tmp_path / "staging"
    for n, (colour, shape) in enumerate([("blue", "square"), ("green", "triangle"),
                                         ("yellow", "circle"), ("red", "square")]):
        picture(folder, f"{colour}_{shape}.jpg", colour, shape, seed=n)
    w = Watcher(toy_cli, tmp_path, folder, "--albums", toy_env["ALBUMS"], env=toy_env)
    watchers.append(w)
    w.ready()
    album = folder / ".photoplug" / "albums" / "red things"
    wait_for(lambda: album.is_dir() and [p.name for p in album.iterdir()] == ["red_square.jpg"],
             "the first album", timeout=30)
    new = picture(staging, "red_circle.jpg", "red", "circle", seed=7)
    copied = time.monotonic()
    shutil.copy(new, folder / new.name)
    wait_for(lambda: (album / new.name).exists(), "the new picture in 'red things'", 10)
    latency = time.monotonic() - copied
    print(f"\nevent to album: {latency:.2f} s")
    assert re.search(r"1 new", w.runs()[-1])
    assert searched(toy_cli, "a photo of a red circle", 1) == ["red_circle.jpg"]
    assert "watcher: running" in toy_cli("status", model=False).stdout

    (folder / new.name).unlink()
    gone = time.monotonic()
    w.wait_line(r"^indexed .*1 deleted", timeout=10)
    print(f"delete to out of the index: {time.monotonic() - gone:.2f} s")
    assert "red_circle.jpg" not in searched(toy_cli, "a photo of a red circle", 10)
    wait_for(lambda: not (album / new.name).exists(), "the deleted picture out of its album", 10)
    w.stop()
    assert "watcher: not running (last caught up" in toy_cli("status", model=False).stdout


def test_a_slow_write_is_read_once_complete(toy_cli: Cli, tmp_path: Path,
                                            watchers: list) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    w = Watcher(toy_cli, tmp_path, folder, env={"XDG_CONFIG_HOME": str(tmp_path / "c")})
    watchers.append(w)
    w.ready()
    data = picture(tmp_path / "staging", "slow.jpg", "green", "circle", seed=3).read_bytes()
    chunks = [data[i:i + len(data) // 10 + 1] for i in range(0, len(data), len(data) // 10 + 1)]
    with open(folder / "slow.jpg", "wb") as out:
        for chunk in chunks:  # over 3 s
            out.write(chunk)
            out.flush()
            time.sleep(3 / len(chunks))
    w.wait_line(r"^indexed .*1 new", timeout=10)
    time.sleep(3.5)  # a second, needless run would have come by now
    runs = w.runs()[1:]
    assert len(runs) == 1 and "0 skipped" in runs[0], runs
    assert searched(toy_cli, "a photo of a green circle", 1) == ["slow.jpg"]


def test_fifty_pictures_copied_at_once_are_one_run(toy_cli: Cli, tmp_path: Path,
                                                   watchers: list) -> None:
    folder, staging = tmp_path / "photos", tmp_path / "staging"
    folder.mkdir()
    files = [picture(staging, f"p{k:02}.jpg", "blue", "triangle", seed=k) for k in range(50)]
    bad = staging / "broken.jpg"
    bad.write_bytes(b"not a picture at all")
    w = Watcher(toy_cli, tmp_path, folder, env={"XDG_CONFIG_HOME": str(tmp_path / "c")})
    watchers.append(w)
    w.ready()
    copied = time.monotonic()
    for f in files + [bad]:
        shutil.copy(f, folder / f.name)
    w.wait_line(r"^indexed .*51 photos: 51 new", timeout=60)
    print(f"\n50 copied to indexed: {time.monotonic() - copied:.2f} s")
    assert len(w.runs()) == 2, w.runs()  # catching up, then the fifty in one run
    assert len(w.matching(r"^skipped .*broken\.jpg")) == 1
    picture(folder, "one_more.jpg", "red", "circle", 99)  # the broken one is not read again
    w.wait_line(r"^indexed .*52 photos: 1 new", timeout=15)
    assert len(w.matching(r"^skipped .*broken\.jpg")) == 1
    assert indexed_count(toy_cli) == 51
    assert len(w.runs()) == 3, w.runs()


def test_killed_mid_batch_and_restarted_loses_and_duplicates_nothing(
        toy_cli: Cli, tmp_path: Path, toy_env: dict[str, str], watchers: list) -> None:
    folder, staging = tmp_path / "photos", tmp_path / "staging"
    folder.mkdir()
    colours = ["red", "blue", "green", "yellow"]
    files = [picture(staging, f"{colours[k % 4]}_{k:02}.jpg", colours[k % 4], "square", k)
             for k in range(40)]
    signal_file = tmp_path / "paused"
    env = {**toy_env, **pause_after_rows(tmp_path / "pause", 32, signal_file, toy_cli.env)}
    first = Watcher(toy_cli, tmp_path, folder, "--albums", toy_env["ALBUMS"], env=env,
                    name="first")
    watchers.append(first)
    first.ready()
    for f in files:
        shutil.copy(f, folder / f.name)
    wait_for(signal_file.exists, "the watcher paused after 32 of 40 photos", 60)
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(timeout=10)
    album = folder / ".photoplug" / "albums" / "red things"
    assert not album.exists()  # killed before the albums were written

    again = Watcher(toy_cli, tmp_path, folder, "--albums", toy_env["ALBUMS"], env=toy_env,
                    name="again")
    watchers.append(again)
    stored = int(signal_file.read_text())  # committed before the kill
    assert 32 <= stored <= 40
    again.wait_line(rf"^indexed .*\(catching up\): 40 photos: {40 - stored} new, 0 changed, "
                    rf"0 moved, 0 deleted, {stored} unchanged", timeout=120)
    wait_for(album.is_dir, "the album after the restart", 30)
    assert indexed_count(toy_cli) == 40
    found = searched(toy_cli, "a photo of a blue square", 100)
    assert len(found) == len(set(found)) and set(found) <= {f.name for f in files}
    assert sorted(p.name for p in album.iterdir()) == sorted(
        f.name for f in files if f.name.startswith("red"))


def test_a_second_watcher_is_refused_and_offline_is_reported_once(
        toy_cli: Cli, tmp_path: Path, watchers: list) -> None:
    folder = tmp_path / "photos"
    picture(folder, "a.jpg", "red", "circle", 1)
    w = Watcher(toy_cli, tmp_path, folder, env={"XDG_CONFIG_HOME": str(tmp_path / "c")})
    watchers.append(w)
    w.ready()
    second = toy_cli("watch", str(folder), check=False)
    assert second.returncode == 1
    assert second.stderr.strip().count("\n") == 0, second.stderr
    assert "already follows the index" in second.stderr
    assert f"pid {w.proc.pid}" in second.stderr

    away = tmp_path / "unplugged"
    folder.rename(away)
    w.wait_line(r"is missing or not mounted", timeout=15)
    time.sleep(5)
    assert len(w.matching(r"is missing or not mounted")) == 1
    away.rename(folder)
    picture(folder, "b.jpg", "blue", "circle", 2)
    w.wait_line(r"is back", timeout=15)
    w.wait_line(r"^indexed .*2 photos", timeout=15)
    assert indexed_count(toy_cli) == 2
    time.sleep(3)  # the new file's own event brings no second report of the outage
    assert len(w.matching(r"is missing or not mounted")) == 1


def test_polling_finds_a_new_picture(toy_cli: Cli, tmp_path: Path, watchers: list) -> None:
    """--poll: no file events needed (network shares)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    w = Watcher(toy_cli, tmp_path, folder, "--poll", "1",
                env={"XDG_CONFIG_HOME": str(tmp_path / "c")})
    watchers.append(w)
    w.ready()
    assert w.matching(r"polling every 1 s")
    copied = time.monotonic()
    picture(folder, "polled.jpg", "purple", "square", 5)
    w.wait_line(r"^indexed .*1 new", timeout=10)
    print(f"\npolled: copied to indexed in {time.monotonic() - copied:.2f} s")
    assert searched(toy_cli, "a photo of a purple square", 1) == ["polled.jpg"]


# -- the pieces, without a watcher ------------------------------------------------------

def test_changes_wait_for_quiet_and_for_files_to_settle(tmp_path: Path) -> None:
    now = [0.0]
    changes = Changes(debounce=2.0, settle=1.0, clock=lambda: now[0])
    f = tmp_path / "a.jpg"
    f.write_bytes(b"x")
    changes.add("loc", str(f))
    now[0] = 1.0
    assert changes.ready() is None  # not quiet yet
    f.write_bytes(b"xy")  # still growing, without an event (a poller's view)
    now[0] = 2.5
    assert changes.ready() is None
    now[0] = 3.0
    assert changes.ready() is None  # the same size for only 0.5 s
    now[0] = 3.6
    assert changes.ready() == ({"loc"}, 1)
    assert changes.ready() is None
    changes.add("other", str(tmp_path / "gone.jpg"))  # deleted: settled at once
    now[0] = 6.0
    assert changes.ready() == ({"other"}, 1)


def test_the_lock_holds_one_watcher(tmp_path: Path) -> None:
    index = tmp_path / "index.sqlite3"
    assert running_watcher(index) is None
    with WatchLock(index):
        assert running_watcher(index) == os.getpid()
        probe = subprocess.run(
            [sys.executable, "-c", "import sys; from pathlib import Path; "
             "from photoplug.watch.lock import WatchLock; WatchLock(Path(sys.argv[1])).acquire()",
             str(index)], capture_output=True, text=True, timeout=60)
        assert probe.returncode != 0 and "already follows" in probe.stderr
    assert running_watcher(index) is None


def test_systemd_unit_and_launchd_plist() -> None:
    argv = ["/opt/pp/bin/photoplug", "watch", "folder:/photos/100% mine", "--index",
            '/data/a "b"/$x.sqlite3']
    unit = service.systemd_unit(argv, {"HOME_X": "1"})
    assert ('ExecStart="/opt/pp/bin/photoplug" "watch" "folder:/photos/100%% mine" '
            '"--index" "/data/a \\"b\\"/$$x.sqlite3"') in unit
    assert "WantedBy=default.target" in unit and 'Environment="PYTHONUNBUFFERED=1"' in unit
    plist = plistlib.loads(service.launchd_plist(argv, Path("/Users/u/Library/Logs/w.log")))
    assert plist["ProgramArguments"] == argv and plist["RunAtLoad"] is True
    assert plist["Label"] == service.AGENT_LABEL
    assert plist["StandardErrorPath"] == "/Users/u/Library/Logs/w.log"


def test_install_and_uninstall_under_a_tmp_home(tmp_path: Path) -> None:
    ran: list[list[str]] = []

    def run(cmd: list[str]) -> subprocess.CompletedProcess:
        ran.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    argv = ["/bin/photoplug", "watch", "folder:/p"]
    out = service.install(argv, tmp_path, "linux", run=run, which=lambda t: "/bin/" + t)
    assert out.path == tmp_path / ".config/systemd/user/photoplug-watch.service"
    assert ["systemctl", "--user", "enable", "--now", "photoplug-watch.service"] in ran
    assert service.uninstall(tmp_path, "linux", run=run, which=lambda t: "/bin/" + t)
    assert not out.path.exists() and ran[-2][:4] == ["systemctl", "--user", "disable", "--now"]
    assert service.uninstall(tmp_path, "linux", run=run, which=lambda t: None) is None

    mac = service.install(argv, tmp_path, "darwin", run=run, which=lambda t: None)
    assert mac.path == tmp_path / "Library/LaunchAgents/org.photoplug.watch.plist"
    assert any("launchctl load -w" in line for line in mac.lines)  # how to start it
    assert plistlib.loads(mac.path.read_bytes())["ProgramArguments"] == argv
    assert service.uninstall(tmp_path, "darwin", run=run, which=lambda t: None)
    assert not mac.path.exists()


def test_install_from_the_command_line(cli: Cli, tmp_path: Path) -> None:
    """Without systemctl on PATH: the unit is written, and how to start it printed."""
    home, folder = tmp_path / "home", tmp_path / "photos"
    folder.mkdir()
    env = {"HOME": str(home), "PATH": str(Path(sys.executable).parent)}
    if not sys.platform.startswith("linux"):
        pytest.skip("the command line installs a systemd unit on Linux")
    out = cli("watch", str(folder), "--install", "--poll", "30", env=env)
    unit = (home / ".config/systemd/user/photoplug-watch.service").read_text()
    assert f'"folder:{folder}"' in unit and '"--poll" "30"' in unit
    assert f'"--index" "{cli.index}"' in unit and "systemctl --user enable --now" in out.stderr
    gone = cli("watch", "--uninstall", env=env, model=False)
    assert "removed" in gone.stderr
    assert not (home / ".config/systemd/user/photoplug-watch.service").exists()


def test_a_write_the_host_refuses_is_deferred_and_retried(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """digiKam open: the index is brought up to date at once, the write waits."""
    from types import SimpleNamespace
    from photoplug.albums import workflows
    from photoplug.hooks import LocationError, WriteReport
    from photoplug.watch.loop import WatchOptions, Watcher as Loop

    host_open = [True]
    writes: list[str] = []

    def sync_albums(app, library, definitions, concepts, options):
        if host_open[0]:
            raise LocationError("digiKam (pid 42) has this database open: close it first")
        return SimpleNamespace(write=lambda: writes.append(library.uri) or WriteReport(["x"]))

    monkeypatch.setattr(workflows, "sync_albums", sync_albums)
    albums = tmp_path / "albums.toml"
    albums.write_text(RED_ALBUM)
    report = SimpleNamespace(new=1, changed=0, moved=0, deleted=0, total=1, skipped=[],
                             encoded=1, online=True, summary=lambda: "1 photos: 1 new")
    indexed: list[str] = []
    app = SimpleNamespace(index_path=tmp_path / "index.sqlite3",
                          index=lambda lib: indexed.append(lib.uri) or report)
    library = SimpleNamespace(uri="digikam:/x", available=lambda: True)
    said: list[str] = []
    now = [0.0]
    loop = Loop(app, [library], WatchOptions(albums=albums, retry=30), said.append,
                clock=lambda: now[0])
    try:
        loop.cycle([0], "catching up")
        assert indexed == ["digikam:/x"] and writes == []
        assert sum("deferred" in line for line in said) == 1
        assert "digikam:/x" in (loop.app.index_path.with_name("index.sqlite3.watch.json")
                                .read_text())
        now[0] = 10.0
        assert loop._due(now[0]) == set()
        loop.cycle([0], None)  # another change while the host is still open: said once
        assert sum("deferred" in line for line in said) == 1 and writes == []
        host_open[0] = False
        now[0] = 45.0
        assert loop._due(now[0]) == {0}
        loop.cycle([0], None)
        assert writes == ["digikam:/x"] and loop.locations[0].deferred_until is None
        assert any("wrote the deferred" in line for line in said)
    finally:
        loop.follower.stop()
