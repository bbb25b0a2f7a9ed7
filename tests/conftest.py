"""Shared fixtures: models as open_clip ``local-dir:`` folders, drawn photos, a CLI runner."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
TOY_CLIP = SHARED / "models" / "toy-clip"
sys.path.insert(0, str(TOY_CLIP))  # its draw.py: the recipe toy-clip was trained on

from draw import CLASSES, draw  # noqa: E402

from photoplug.hooks import WritePlan  # noqa: E402

TINY_CONFIG = {
    "model_cfg": {
        "embed_dim": 64,
        "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 8,
                       "head_width": 32},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2,
                     "layers": 2},
    },
    "preprocess_cfg": {"mean": [0.48145466, 0.4578275, 0.40821073],
                       "std": [0.26862954, 0.26130258, 0.27577711]},
}


def write_tiny_model(folder: Path, seed: int = 0) -> str:
    """A seeded random CLIP saved as an open_clip model folder; returns its model name."""
    import open_clip
    import torch
    from safetensors.torch import save_file
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "open_clip_config.json").write_text(json.dumps(TINY_CONFIG))
    torch.manual_seed(seed)
    model = open_clip.CLIP(**TINY_CONFIG["model_cfg"])
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              str(folder / "open_clip_model.safetensors"))
    return f"local-dir:{folder}"


@pytest.fixture(scope="session", autouse=True)
def private_dirs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """photoplug's user cache (exported towers, measured runtimes), data and config in
    temporary folders for the whole session, subprocesses included: never the real ones."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME"):
            patch.setenv(name, str(tmp_path_factory.mktemp(name.lower())))
        yield


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_tiny_model(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def toy_model() -> str:
    if not (TOY_CLIP / "open_clip_model.safetensors").exists():
        pytest.fail(f"toy-clip is missing at {TOY_CLIP} (../shared beside the repository)")
    return f"local-dir:{TOY_CLIP}"


def keyword_plan(keywords: dict[str, list[str]]) -> WritePlan:
    """A write plan that adds these keywords (stable id -> keywords)."""
    return WritePlan(add_keywords={sid: set(words) for sid, words in keywords.items()})


def album_plan(albums: dict[str, list[str]]) -> WritePlan:
    """A write plan that makes these albums (name -> stable ids)."""
    return WritePlan(albums={name: set(ids) for name, ids in albums.items()})


def draw_photo(path: Path, colour: str, shape: str, seed: int,
               size: tuple[int, int] = (1600, 1200), **save: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    draw(colour, shape, size, np.random.default_rng(seed)).save(path, quality=90, **save)
    return path


@pytest.fixture(scope="session")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two large JPEGs of each of toy-clip's 18 classes, drawn by its recipe."""
    folder = tmp_path_factory.mktemp("shapes")
    for n, (colour, shape) in enumerate(CLASSES):
        for k in range(2):
            draw_photo(folder / f"{colour}_{shape}_{k}.jpg", colour, shape, seed=100 * n + k)
    return folder


class Cli:
    """Runs the installed ``photoplug`` console script in a subprocess, as a user would."""

    def __init__(self, index: Path, model: str | None) -> None:
        self.index = index
        self.model = model
        self.env = {**os.environ, "PHOTOPLUG_INDEX": str(index), "PYTHONUNBUFFERED": "1"}

    def __call__(self, *args: str, model: bool = True, check: bool = True,
                 env: dict[str, str] | None = None, **kw: object
                 ) -> subprocess.CompletedProcess[str]:
        argv = [str(Path(sys.executable).with_name("photoplug")), *args]
        if model and self.model:
            argv += ["--model", self.model]
        result = subprocess.run(argv, capture_output=True, text=True,
                                env={**self.env, **(env or {})}, timeout=300, **kw)
        if check and result.returncode != 0:
            raise AssertionError(f"{argv} exited {result.returncode}:\n{result.stderr}")
        return result

    def json(self, *args: str, **kw: object) -> object:
        return json.loads(self(*args, "--json", **kw).stdout)


@pytest.fixture
def cli(tmp_path: Path, tiny_model: str) -> Cli:
    return Cli(tmp_path / "index.sqlite3", tiny_model)


@pytest.fixture
def toy_cli(tmp_path: Path, toy_model: str) -> Cli:
    return Cli(tmp_path / "index.sqlite3", toy_model)
