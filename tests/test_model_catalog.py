"""`photoplug models`: the recommended table (family, languages, published quality with
its source), speed measured on this CPU and cached, and `models download`'s one-line
failures."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import offline_env
from test_cli_errors import one_line_error


def photoplug(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).with_name("photoplug")), *args],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", **env})


def test_catalog_entries_name_their_sources() -> None:
    from photoplug.model.catalog import DEFAULT_DOWNLOAD, METRICS, RECOMMENDED
    assert DEFAULT_DOWNLOAD in {r.key for r in RECOMMENDED}
    assert len({r.key for r in RECOMMENDED}) == len(RECOMMENDED)
    for r in RECOMMENDED:
        assert r.family and r.languages in ("en", "multilingual")
        for q in r.quality:
            assert q.metric in METRICS and 0 < q.value <= 100
            assert q.as_dict()["source"]


def test_measure_tiny_model_is_positive_and_cached(tiny_model: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from photoplug.model import model_speed
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = model_speed.measure(tiny_model, batches=2)
    for field in ("params_m", "fp32_mb", "photos_per_s", "ms_per_query"):
        assert result[field] > 0, (field, result)
    assert result["image_runtime"] and result["text_runtime"] == "numpy"
    assert result["text_stand_in"] is None  # CLIP's tokenizer is in open_clip itself
    assert model_speed.cache_path().is_file()
    assert model_speed.cached(tiny_model) == result

    def no_measuring(*args: object, **kwargs: object) -> dict[str, object]:
        raise AssertionError("measured again instead of read from the cache")
    monkeypatch.setattr(model_speed, "_stage", no_measuring)
    assert model_speed.measure(tiny_model) == result
    assert model_speed.cached_all()[tiny_model] == result


def test_models_json_lists_recommended(tmp_path: Path) -> None:
    from photoplug.model.catalog import RECOMMENDED
    result = photoplug("models", "--json", env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["model"], r["pretrained"]) for r in rows] == [r.key for r in RECOMMENDED]
    for row in rows:
        assert row["family"] and row["languages"] in ("en", "multilingual")
        assert row["speed"] is None  # nothing measured in this fresh cache
        for q in row["quality"]:
            assert q["source"] and q["value"] > 0
    by_key = {(r["model"], r["pretrained"]): r for r in rows}
    openai = by_key[("ViT-B-32", "openai")]
    assert {q["label"]: q["value"] for q in openai["quality"]}["XM3600"] == 59.4
    assert sum(r["default"] for r in rows) == 1
    table = photoplug("models", env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert table.returncode == 0, table.stderr
    assert "ViT-B-16-SigLIP2" in table.stdout and "source:" in table.stderr


def test_download_unknown_model_fails_in_one_sentence(tmp_path: Path) -> None:
    result = photoplug("models", "download", "no-such-model",
                       env=offline_env(tmp_path / "startup"))
    one_line_error(result, "unknown model", "no-such-model")


def test_download_offline_fails_in_one_sentence(tmp_path: Path) -> None:
    env = {**offline_env(tmp_path / "startup"), "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "HF_HOME": str(tmp_path / "hf"), "HOME": str(tmp_path / "home")}
    result = photoplug("models", "download", "ViT-B-32", "--pretrained", "laion2b_s34b_b79k",
                       env=env)
    one_line_error(result, "offline", "ViT-B-32")
    default = photoplug("models", "download", env=env)  # the recommended default
    one_line_error(default, "offline", "SigLIP2")
