"""Bad command-line input gets one clear line and a non-zero exit, never a traceback."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import Cli, draw_photo


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


def test_missing_weights_name_the_command_that_fixes_it(cli: Cli, photos: Path) -> None:
    result = cli("search", "beach", str(photos), model=False, check=False,
                 env={"HOME": str(photos.parent)})  # an empty open_clip cache
    one_line_error(result, "photoplug models download ViT-B-32 --pretrained openai")
    download = cli("models", "download", "ViT-B-32", model=False, check=False,
                   env={"HOME": str(photos.parent)})
    one_line_error(download, "network")


def test_no_match_prints_empty_array(cli: Cli, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cli("search", "anything", str(empty), "--json")
    assert result.stdout.strip() == "[]"
