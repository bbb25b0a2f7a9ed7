"""Bad command-line input gets one clear line and a non-zero exit, never a traceback."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import Cli, draw_photo, offline_env


def one_line_error(result, *words: str) -> None:
    assert result.returncode != 0
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("photoplug: error:")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    return draw_photo(tmp_path / "photos" / "a.jpg", "red", "circle", seed=1,
                      size=(320, 240)).parent


def test_bad_arguments(cli: Cli, photos: Path, tmp_path: Path) -> None:
    one_line_error(cli("index", "lightroom:~/catalog.lrcat", check=False), "no adapter",
                   "lightroom")
    one_line_error(cli("index", str(tmp_path / "missing"), check=False), "does not exist")
    one_line_error(cli("search", "", str(photos), check=False), "empty query")
    one_line_error(cli("search", "x", str(photos), "--top", "0", check=False), "--top")
    corrupt = tmp_path / "corrupt.sqlite3"
    corrupt.write_bytes(b"\0garbage" * 1000)
    one_line_error(cli("search", "x", str(photos), "--index", str(corrupt), check=False),
                   "not a usable photoplug index")
    one_line_error(cli("index", str(photos), "--weights", str(corrupt), check=False),
                   "local-dir")


def test_the_network_is_off_in_these_subprocesses(cli: Cli, tmp_path: Path) -> None:
    """What the next test relies on: no connection and no name lookup gets through."""
    probe = ("import socket\n"
             "for attempt in (lambda: socket.create_connection(('huggingface.co', 443), 3),\n"
             "                lambda: socket.getaddrinfo('huggingface.co', 443),\n"
             "                lambda: socket.socket().connect(('127.0.0.1', 9))):\n"
             "    try:\n"
             "        attempt()\n"
             "    except OSError:\n"
             "        continue\n"
             "    raise SystemExit('a connection got through')\n"
             "print('off')")
    env = {**cli.env, **offline_env(tmp_path / "offline", cli.env)}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            env=env, timeout=60)
    assert (result.returncode, result.stdout) == (0, "off\n"), result.stderr
    assert env["HF_HUB_OFFLINE"] == "1"


@pytest.mark.parametrize("hub_offline", [True, False],
                         ids=["HF_HUB_OFFLINE=1", "download tried, no network"])
def test_missing_weights_name_the_command_that_fixes_it(cli: Cli, photos: Path, tmp_path: Path,
                                                        hub_offline: bool) -> None:
    """Without the weights and without a network (explicitly: sockets cannot connect,
    whatever this machine can reach), the error says how to get them."""
    home = tmp_path / "home"  # empty open_clip and Hugging Face caches
    env = {"HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"),
           "HF_HOME": str(home / ".cache" / "huggingface"),
           **offline_env(tmp_path / "offline", cli.env)}
    if not hub_offline:
        env["HF_HUB_OFFLINE"] = "0"  # photoplug tries to download, and cannot connect
    result = cli("search", "beach", str(photos), model=False, check=False, env=env)
    one_line_error(result, "photoplug models download ViT-B-32-SigLIP2-256 --pretrained webli")
    download = cli("models", "download", "ViT-B-32", model=False, check=False, env=env)
    one_line_error(download, "network")


def test_no_match_prints_empty_array(cli: Cli, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cli("search", "anything", str(empty), "--json")
    assert result.stdout.strip() == "[]"
