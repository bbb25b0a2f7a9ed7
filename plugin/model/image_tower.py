"""A model's image tower exported once to ONNX, and which runtime runs it fastest here.

The first time a model encodes images on the CPU, its image tower is exported to ONNX
(``~/.cache/photoplug/image-towers/HASH-vN/``, keyed by the weights' content hash) and
each installed exact runtime (OpenVINO, ONNX Runtime) runs a fixed batch: one whose
embeddings are not within cosine ``MIN_COSINE`` of torch's is refused. Then a short
timed probe of the runtimes that passed, and of torch, picks the fastest for this CPU
(``machine.signature()``), recorded beside the export. Later runs read that record and
the export without importing torch: ``tower.json`` also holds the model's preprocessing
and embedding size. Vectors of the exact runtimes count as the model's own, so switching
between them never re-embeds; int8 and bf16 (``image_runtimes.RUNTIMES``: not exact)
are recorded as other models.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import platformdirs

from photoplug.model import machine
from photoplug.errors import PhotoplugError
from photoplug.model.image_runtimes import (EXACT, Runtime, available, installed, kind_of,
                                            open_runtime, require)
from photoplug.model.preprocess import Preprocess

FORMAT = 1
MIN_COSINE = 0.99999
# torch is kept only when this much faster than the best export: it costs seconds to import
TORCH_MARGIN = 1.1
# exported runtimes this close count as tied, and the first of EXACT wins: OpenVINO starts
# from its compiled copy in about half the time ONNX Runtime takes (0.5 s against 0.9 s)
TIE = 1.05
PROBE_BATCH = 8
PROBE_SECONDS = 20.0  # probe rounds stop once this much time has gone
Encoder = Callable[[np.ndarray], np.ndarray]


def folder_for(weights_hash: str) -> Path:
    return (Path(platformdirs.user_cache_dir("photoplug")) / "image-towers"
            / f"{weights_hash}-v{FORMAT}")


def note(message: str) -> None:
    print(f"photoplug: {message}", file=sys.stderr)


def sample_pixels(preprocess: Preprocess, count: int) -> np.ndarray:
    """A fixed batch of smooth random pictures, preprocessed: the check and probe input."""
    from PIL import Image
    rng = np.random.default_rng(0)
    return np.stack([preprocess(Image.fromarray(rng.integers(0, 256, (6, 8, 3), np.uint8))
                                .resize((320, 240), Image.Resampling.BICUBIC))
                     for _ in range(count)])


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return float((a * b).sum(axis=1).min())


@dataclass
class ImageTower:
    """An exported image tower on disk, with what was learnt about it."""

    folder: Path
    preprocess: Preprocess | None
    dim: int = 0
    error: str | None = None  # why there is no usable export
    cosines: dict[str, float] = field(default_factory=dict)  # runtime -> against torch
    fastest: dict[str, dict[str, Any]] = field(default_factory=dict)  # per CPU signature

    @classmethod
    def load(cls, weights_hash: str) -> ImageTower | None:
        """What ``export`` recorded for these weights, or None (torch-free)."""
        folder = folder_for(weights_hash)
        try:
            record = json.loads((folder / "tower.json").read_text())
            pre = record.get("preprocess")
            return cls(folder, Preprocess.from_config(pre) if pre else None,
                       int(record.get("dim", 0)), record.get("error"),
                       record.get("cosines", {}), record.get("fastest", {}))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def save(self) -> None:
        """Rewrite ``tower.json`` atomically."""
        record = {"format": FORMAT, "dim": self.dim, "error": self.error,
                  "preprocess": self.preprocess.as_config() if self.preprocess else None,
                  "cosines": self.cosines, "fastest": self.fastest}
        tmp = self.folder / f".tower.json.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(record, indent=1))
        os.replace(tmp, self.folder / "tower.json")

    def passed(self, runtime: str) -> bool:
        """Whether ``runtime`` gave torch's embeddings on the check batch."""
        return self.error is None and self.cosines.get(runtime, 0.0) >= MIN_COSINE

    def unchecked(self) -> list[str]:
        """Installed exact runtimes not checked yet (installed since the export)."""
        return [r for r in EXACT if self.error is None and r not in self.cosines
                and installed(r)]

    def choice(self) -> str | None:
        """The runtime measured fastest on this CPU (``torch`` included), if measured."""
        return self.fastest.get(machine.signature(), {}).get("runtime")

    def torch_free(self, backend: str) -> str | None:
        """The runtime (as the index records it) that serves ``backend`` without torch, or
        None when torch is needed (it was chosen, the export was refused, nothing was
        measured on this CPU, or the runtime cannot run here)."""
        kind = kind_of(backend)
        if kind is not None and not kind.exact:  # chosen by name, another model's vectors
            return kind.recorded if self.error is None and available(backend) else None
        runtime = self.choice() if backend == "auto" else backend
        if runtime in EXACT and self.passed(runtime) and installed(runtime):
            return runtime
        return None

    def open(self, runtime: str, keep: bool = True) -> Runtime:
        """A session of ``runtime`` over this export, on all cores; ``keep``: OpenVINO loads
        from (or makes) its compiled copy in the folder, as large as the model."""
        return open_runtime(runtime, self.folder, machine.cpu_count(), keep)

    # -- made with torch ------------------------------------------------------------

    def check(self, reference: Encoder) -> dict[str, Runtime]:
        """Run the check batch through each installed, unchecked exact runtime and record
        its cosine to ``reference`` (torch); the sessions of those that passed."""
        passed: dict[str, Runtime] = {}
        if self.preprocess is None:
            return passed
        pixels = sample_pixels(self.preprocess, 4)
        expected = reference(pixels)
        for runtime in self.unchecked():
            try:
                session = self.open(runtime, keep=False)  # a compiled copy for the chosen only
                self.cosines[runtime] = min_cosine(session.encode(pixels), expected)
            except Exception as exc:  # a runtime that cannot take this graph
                self.cosines[runtime] = 0.0
                note(f"{runtime} cannot run the exported image model ({_short(exc)}): "
                     f"not used")
                continue
            if self.passed(runtime):
                passed[runtime] = session
            else:
                note(f"{runtime} does not reproduce the image model exactly (cosine "
                     f"{self.cosines[runtime]:.6f} to torch, under {MIN_COSINE}): not used")
        self.save()
        return passed

    def measure(self, encoders: dict[str, Encoder]) -> str:
        """Time each encoder on the probe batch (interleaved, best of a few rounds), record
        the fastest for this CPU and return it: exported runtimes within ``TIE`` of the
        fastest go by the order of EXACT, and torch wins only by ``TORCH_MARGIN``."""
        pixels = sample_pixels(self.preprocess, PROBE_BATCH)  # type: ignore[arg-type]
        best = {name: float("inf") for name in encoders}
        started = time.perf_counter()
        for round_ in range(4):  # the first round warms up, and is not counted
            for name, encode in encoders.items():
                t0 = time.perf_counter()
                encode(pixels)
                if round_:
                    best[name] = min(best[name], time.perf_counter() - t0)
            if round_ and time.perf_counter() - started > PROBE_SECONDS:
                break
        rates = {name: PROBE_BATCH / seconds for name, seconds in best.items()}
        top = max((rates[r] for r in EXACT if r in rates), default=0.0)
        exported = next((r for r in EXACT if rates.get(r, 0.0) * TIE >= top), None)
        winner = exported if exported and rates[exported] * TORCH_MARGIN >= rates.get(
            "torch", 0.0) else "torch"
        self.fastest[machine.signature()] = {
            "runtime": winner, "cpu": machine.describe(),
            "photos_per_s": {k: round(v, 2) for k, v in rates.items()}}
        self.save()
        return winner


def export(visual: Any, preprocess_cfg: Any, weights_hash: str) -> ImageTower:
    """Export ``visual`` (an open_clip image tower, on the CPU) once; an architecture the
    exporter cannot take, or preprocessing not reproduced without torch, is recorded as
    an error, so it is not tried again."""
    import onnx  # noqa: F401  (torch's exporter needs it; missing, nothing is recorded)
    import torch
    folder = folder_for(weights_hash)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    tower = ImageTower(tmp, None)
    try:
        tower.preprocess = Preprocess.from_config(preprocess_cfg)
        height, width = tower.preprocess.size
        example = torch.zeros(2, 3, height, width)
        with torch.no_grad():
            tower.dim = int(visual(example).shape[-1])
        # traced with autograd on: without it attention takes a fused kernel ONNX lacks
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's and the legacy exporter's
            torch.onnx.export(visual, (example,), str(tmp / "visual.onnx"), dynamo=False,
                              input_names=["pixels"], output_names=["features"],
                              dynamic_axes={"pixels": {0: "batch"}, "features": {0: "batch"}},
                              opset_version=17)
    except Exception as exc:  # an architecture or transform this cannot take
        tower.error = _short(exc)
        for stale in tmp.iterdir():
            stale.unlink()
    tower.save()
    try:
        os.replace(tmp, folder)
    except OSError:  # another process exported it first
        shutil.rmtree(tmp, ignore_errors=True)
    return ImageTower.load(weights_hash) or tower


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]


def runtime_for(visual: Any, preprocess_cfg: Any, weights_hash: str, backend: str,
                reference: Encoder) -> Runtime | None:
    """The runtime that runs ``backend`` on the CPU, or None for torch (``reference``):
    exports, checks and measures what has not been yet. ``auto`` is the fastest exact
    runtime measured here; one that is missing or refused means torch, with a note."""
    tower = ImageTower.load(weights_hash)
    if tower is None:
        try:
            tower = export(visual, preprocess_cfg, weights_hash)
        except (OSError, ImportError) as exc:  # an unwritable cache, no onnx package
            if backend != "auto":
                raise PhotoplugError(f"could not export the image model for --backend "
                                     f"{backend}: {exc}") from exc
            note(f"image embeddings through torch: could not export the image model ({exc})")
            return None
    sessions = tower.check(reference) if tower.unchecked() else {}
    kind = kind_of(backend)
    if kind is not None:  # a runtime named
        require(backend)
        if tower.error or (kind.exact and not tower.passed(backend)):
            why = tower.error or (f"its embeddings differ from torch's (cosine "
                                  f"{tower.cosines.get(backend, 0.0):.6f})")
            raise PhotoplugError(f"the {kind.name} runtime cannot run this model: {why}; "
                                 f"use --backend torch")
        return tower.open(backend)
    exact = [r for r in EXACT if tower.passed(r) and installed(r)]
    if not exact:
        why = tower.error or ("no exact runtime passed the check" if tower.cosines else
                              "neither OpenVINO nor ONNX Runtime is installed")
        note(f"image embeddings through torch: {why}")
        return None
    choice = tower.choice()
    if choice is None or choice not in (*exact, "torch"):  # not measured, or uninstalled
        choice = _measure(tower, exact, sessions, reference)
    sessions.clear()  # the check's sessions go before the one to use is opened anew
    return tower.open(choice) if choice in exact else None  # (OpenVINO: with its copy)


def _measure(tower: ImageTower, exact: list[str], sessions: dict[str, Runtime],
             reference: Encoder) -> str:
    """Measure ``exact`` runtimes (their check's sessions, where open) and torch."""
    runtimes = {r: sessions.get(r) or tower.open(r, keep=False) for r in exact}
    note(f"measuring which runtime encodes images fastest on this CPU (once): "
         f"{', '.join(runtimes)} or torch")
    return tower.measure({**{r: s.encode for r, s in runtimes.items()}, "torch": reference})
