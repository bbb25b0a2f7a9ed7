"""Shared fixtures: models as open_clip ``local-dir:`` folders, drawn photos, a CLI runner;
subprocesses with code run at their start (no network, a pause at a known point); waiting
for a state with a timeout that fails loudly; and CI's required tools, whose skips fail."""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import textwrap
import time
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterator

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


# -- subprocesses with code run at their start ------------------------------------------

def at_startup(folder: Path, code: str, env: dict[str, str] | None = None) -> dict[str, str]:
    """Environment variables under which a Python subprocess (``photoplug`` included) runs
    ``code`` before anything else: a ``sitecustomize`` module in ``folder``, put first on
    PYTHONPATH (``env``'s, else this process's)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(textwrap.dedent(code))
    before = (env if env is not None else os.environ).get("PYTHONPATH")
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(folder), before]))}


NO_NETWORK = """
    # The network is off: every IP connection and name lookup fails at once.
    import errno, socket

    def _refuse(*args, **kwargs):
        raise OSError(errno.ENETUNREACH, "the network is off in this test")

    _connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _refuse()
        return _connect(self, address)

    def connect_ex(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            return errno.ENETUNREACH
        return _connect_ex(self, address)

    socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
    socket.create_connection = _refuse
    socket.getaddrinfo = lambda *a, **k: (_ for _ in ()).throw(
        socket.gaierror(socket.EAI_NONAME, "the network is off in this test"))
"""


def offline_env(folder: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """A subprocess without a network: Hugging Face's offline switch, and sockets that
    cannot connect (whatever the switch is overridden by)."""
    return {"HF_HUB_OFFLINE": "1", **at_startup(folder, NO_NETWORK, env)}


def pause_after_rows(folder: Path, rows: int, signal_file: Path,
                     env: dict[str, str] | None = None) -> dict[str, str]:
    """A ``photoplug index`` subprocess that, once a batch has brought it to ``rows`` photos
    stored (committed), writes ``signal_file`` and stops there until it is killed: it is
    then surely mid-run, however fast the machine."""
    return at_startup(folder, f"""
        import time
        from pathlib import Path
        from photoplug.index import indexer

        _write = indexer.Run.write

        def write(self, *args, **kwargs):
            _write(self, *args, **kwargs)
            if self.done >= {rows}:
                ready = Path({str(signal_file)!r})
                ready.with_name(ready.name + ".tmp").write_text(str(self.done))
                ready.with_name(ready.name + ".tmp").replace(ready)  # whole, at once
                while True:
                    time.sleep(3600)

        indexer.Run.write = write
    """, env)


def wait_for(condition: Callable[[], object], what: str, timeout: float = 120,
             interval: float = 0.05) -> None:
    """Wait until ``condition()`` is true; fail loudly, naming ``what``, after ``timeout``
    seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


# -- CI: a skip of something CI installs is a failure ---------------------------------

REQUIRE_VARIABLE = "PHOTOPLUG_CI_REQUIRE"  # e.g. darktable,xvfb,chromium,ray,exiftool,ipv6


@lru_cache(maxsize=1)
def has_ipv6_loopback() -> bool:
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
        return True
    except OSError:
        return False


def required_tools() -> list[str]:
    """The tools named in PHOTOPLUG_CI_REQUIRE; IPv6 only where this machine has an IPv6
    loopback (a container may have none, and CI cannot install one)."""
    tools = [t.strip().lower() for t in os.environ.get(REQUIRE_VARIABLE, "").split(",")]
    return [t for t in tools if t and (t != "ipv6" or has_ipv6_loopback())]


def skip_reason(report: pytest.BaseReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr or "")


def required_but_skipped(report: pytest.BaseReport) -> str | None:
    """The failure text when ``report`` is a skip whose reason names a required tool."""
    if not report.skipped or hasattr(report, "wasxfail"):
        return None
    reason = skip_reason(report).removeprefix("Skipped: ")
    named = [t for t in required_tools()
             if re.search(rf"(?<![a-z0-9]){re.escape(t)}(?![a-z0-9])", reason, re.I)]
    if not named:
        return None
    return (f"skipped, but {REQUIRE_VARIABLE} requires {', '.join(named)} here "
            f"(CI installs it): {reason}")


def _fail_required_skip(report: pytest.BaseReport) -> None:
    message = required_but_skipped(report)
    if message is not None:
        report.outcome = "failed"
        report.longrepr = message


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    _fail_required_skip(outcome.get_result())


_REQUIRED_MODULE_SKIPS: list[str] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    """A module skipped as a whole (``pytest.importorskip`` of ray) is checked too: a
    collection error would stop the whole run, so it stays a skip here and fails the run
    at its end (see ``pytest_sessionfinish``)."""
    outcome = yield
    message = required_but_skipped(outcome.get_result())
    if message is not None:
        _REQUIRED_MODULE_SKIPS.append(f"{collector.nodeid}: {message}")


def pytest_terminal_summary(terminalreporter) -> None:
    if _REQUIRED_MODULE_SKIPS:
        terminalreporter.section("required tools skipped", red=True, bold=True)
        for line in _REQUIRED_MODULE_SKIPS:
            terminalreporter.line(f"FAILED {line}", red=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _REQUIRED_MODULE_SKIPS and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
