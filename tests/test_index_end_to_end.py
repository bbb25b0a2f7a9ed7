"""Indexing a folder full of bad input through the CLI, killed midway and resumed."""
from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from conftest import CLASSES, Cli, draw_photo, pause_after_rows, wait_for
from photo_factory import bad_inputs, good_formats, ignored_entries


def photo_rows(index: Path) -> list[tuple[str, str, str | None]]:
    with sqlite3.connect(index) as db:
        return db.execute("SELECT stable_id, status, reason FROM photos").fetchall()


def test_bad_input_killed_run_and_resume(cli: Cli, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    good = good_formats(photos)
    bad = bad_inputs(photos)
    ignored_entries(photos)
    for n in range(100):  # more than a batch (32) beyond the bad input
        colour, shape = CLASSES[n % len(CLASSES)]
        draw_photo(photos / "bulk" / f"{n:03}.jpg", colour, shape, seed=n, size=(640, 480))
    unread = {"notes.txt": "not a format photoplug reads (.txt)"}  # counted, not read
    expected = len(good) + len(bad) + len(unread) + 100

    # The first run stops itself once 32 photos are stored (a batch committed), and says
    # so: it is killed there, mid-run, however fast or slow this machine is.
    paused = tmp_path / "paused"
    argv = [str(Path(sys.executable).with_name("photoplug")), "index", str(photos),
            "--model", cli.model]
    first = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env={**cli.env, **pause_after_rows(tmp_path / "pause", 32, paused,
                                                                cli.env)})
    try:
        wait_for(lambda: paused.exists() or first.poll() is not None,
                 "the first run to store 32 photos", timeout=300)
        assert first.poll() is None, f"the first run ended ({first.returncode}) unpaused"
        assert int(paused.read_text()) >= 32
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    partial = len(photo_rows(cli.index))
    assert 0 < partial < expected

    report = cli.json("index", str(photos))
    assert report["total"] == expected
    assert report["unchanged"] == partial
    assert report["new"] == expected - partial

    rows = photo_rows(cli.index)
    ids = [r[0] for r in rows]
    assert len(ids) == len(set(ids)) == expected, "duplicates or missing photos"
    status = {sid: (st, why) for sid, st, why in rows}
    for name in good:
        assert status[name] == ("ok", None), name
    for name, word in bad.items():
        assert status[name][0] == "skipped" and word in status[name][1], status[name]
    assert not any(sid.startswith((".", "sub/loop")) or "/." in sid for sid in ids)
    with sqlite3.connect(cli.index) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    again = cli.json("index", str(photos))
    assert again["unchanged"] == expected and again["encoded"] == 0

    shown = cli("status", str(photos), model=False).stdout
    for name, why in unread.items():
        assert status[name] == ("skipped", why)
    assert f"{expected - len(bad) - len(unread)} photos searchable" in shown
    assert "bomb.png" in shown and "1 .txt" in shown


def test_odd_names_come_back_intact_in_json_and_paths(cli: Cli, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    good_formats(photos)
    cli("index", str(photos))
    results = cli.json("search", "a photo", str(photos), "--top", "50", "--all-frames",
                       model=False)
    names = {Path(r["path"]).name for r in results}
    assert {"new\nline.jpg", "-leading-dash.jpg", "ünïcødé 写真.jpg"} <= names
    raw = cli("search", "a photo", str(photos), "--top", "50", "--all-frames", "--paths", "-0",
              model=False).stdout
    assert str(photos / "new\nline.jpg") in raw.split("\0")
