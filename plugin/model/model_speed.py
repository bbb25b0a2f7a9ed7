"""How fast a model architecture runs on this CPU, measured with seeded random weights.

Speed depends on the architecture, not on the weights' values, so an architecture is
measured without its real weights (no download): ``open_clip.create_model(name,
pretrained=None)`` after ``torch.manual_seed(0)``. Two fresh subprocesses, so one
model's memory never counts against another's:

1. ``prepare`` (torch): parameters, the image tower exported to ONNX as photoplug
   exports it (``image_tower.runtime_for``: export, check against torch, probe of the
   exact runtimes and torch), and the numpy text tower (``TextTower.from_model``), both
   written to a temporary folder;
2. ``run`` (no torch, as ``photoplug index`` and ``search`` run once a model is set up):
   the chosen runtime encodes batches of ``BATCH`` preprocessed photos (photos/s: the
   median batch; decoding JPEGs not included), then the numpy text tower encodes single
   queries (ms: the median). Memory is the growth of the process's resident set while
   each runs (peak, sampled), over what it held before.

Where the probe picks torch, or the text tower has no numpy copy, torch is timed in
``prepare`` instead, and the result says so. A tokenizer that needs a Hugging Face
download (SigLIP2's Gemma tokenizer) is replaced, when not cached, by CLIP's BPE with the
same context length (every id fits the model's vocabulary); in a bidirectional tower every
position is computed whatever the text, so the time differs only by the tokenizer's own
cost (well under a millisecond), and the result names the stand-in. An architecture whose
text tower is a Hugging Face transformer (XLM-RoBERTa, NLLB) needs that model's
configuration from the hub, so is not measurable offline.

Results are cached in ``user_cache_dir('photoplug')/model-speeds.json``, keyed by the
model and ``machine.signature()`` (as the image runtime choice is): copied to another
machine, they are measured again there.
"""
from __future__ import annotations

import contextlib
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

import platformdirs

from photoplug.model import machine

VERSION = 1  # measurements of another version are measured again
BATCH = 8
CACHE_FILE = "model-speeds.json"
QUERIES = ["a dog on the beach", "sunset over the mountains", "birthday cake with candles",
           "red car parked in the snow", "two children playing football", "Eiffel tower",
           "a cat asleep on a sofa", "wedding photo", "ein Foto von einem roten Kreis",
           "old black and white portrait", "fireworks", "a plate of pasta"]
_HASH = "seeded-random"  # the image export's key inside the measurement's own folder


class NotMeasurable(Exception):
    """An architecture that cannot be measured here (the message says why)."""


# -- the cache -----------------------------------------------------------------------------

def cache_path() -> Path:
    return Path(platformdirs.user_cache_dir("photoplug")) / CACHE_FILE


def _key(name: str) -> str:
    return f"{name}|{machine.signature()}"


def _load_cache() -> dict[str, Any]:
    try:
        data = json.loads(cache_path().read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def cached(name: str) -> dict[str, Any] | None:
    """The measurement of ``name`` made on this CPU, if any."""
    found = _load_cache().get(_key(name))
    return found if isinstance(found, dict) and found.get("version") == VERSION else None


def cached_all() -> dict[str, dict[str, Any]]:
    """Every measurement made on this CPU: model -> result."""
    signature = machine.signature()
    out = {}
    for key, value in _load_cache().items():
        name, _, sig = key.rpartition("|")
        if sig == signature and isinstance(value, dict) and value.get("version") == VERSION:
            out[name] = value
    return out


def _store(name: str, result: dict[str, Any]) -> None:
    path = cache_path()
    data = _load_cache()
    data[_key(name)] = result
    with contextlib.suppress(OSError):  # an unwritable cache only costs a re-measurement
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, path)


# -- measuring -----------------------------------------------------------------------------

def measure(name: str, batches: int = 3, force: bool = False, timeout: float = 900.0,
            progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The speed of architecture ``name`` (an open_clip name, or ``local-dir:FOLDER``) on
    this CPU: from the cache, else measured now (and cached). Raises NotMeasurable."""
    if not force and (found := cached(name)) is not None:
        return found
    if progress:
        progress(f"measuring {name} on this CPU with seeded random weights")
    with tempfile.TemporaryDirectory(prefix="photoplug-speed-") as tmp:
        prepared = _stage("prepare", name, Path(tmp), batches, timeout)
        ran = _stage("run", name, Path(tmp), batches, timeout) \
            if prepared.get("needs_run") else {}
    result = {**prepared, **ran}
    result.pop("needs_run", None)
    result.pop("text_folder", None)
    for part in ("image", "text"):
        result.setdefault(f"{part}_memory_mb", None)
    result.update(model=name, version=VERSION, cpu=machine.describe(),
                  signature=machine.signature(), measured_at=time.time())
    _store(name, result)
    return result


def _stage(stage: str, name: str, folder: Path, batches: int, timeout: float
           ) -> dict[str, Any]:
    """Run one stage in a fresh Python (offline), and return what it wrote."""
    out = folder / f"{stage}.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore",
           "TOKENIZERS_PARALLELISM": "false"}
    try:
        proc = subprocess.run([sys.executable, "-m", "photoplug.model.model_speed", stage,
                               name, str(folder), str(batches)], capture_output=True,
                              text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise NotMeasurable(f"{name}: the {stage} stage ran over {timeout:.0f} s") from exc
    if out.is_file():
        result = json.loads(out.read_text())
        if result.get("not_measurable"):
            raise NotMeasurable(f"{name}: {result['not_measurable']}")
        return result
    last = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()][-1:] or ["no output"]
    raise NotMeasurable(f"{name}: the {stage} stage failed (exit {proc.returncode}): "
                        f"{last[0][:300]}")


class _PeakRss:
    """The peak resident set of this process while inside, over what it held on entry,
    in MB (sampled every few ms by a thread)."""

    def __enter__(self) -> _PeakRss:
        import psutil
        self._process = psutil.Process()
        self.start = self.peak = self._process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.003):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)

    @property
    def mb(self) -> float:
        return round((self.peak - self.start) / 2**20, 1)


def _timed(fn: Callable[[], object], repeat: int) -> float:
    """The median seconds of ``repeat`` calls, after one untimed call."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _use_folder(folder: Path) -> None:
    """Keep the image export inside the measurement's own folder, not the user's cache."""
    from photoplug.model import image_tower
    image_tower.folder_for = lambda weights_hash: folder / "image-towers" / weights_hash


def _hf_text_model(name: str) -> str | None:
    import open_clip
    cfg = open_clip.get_model_config(name) or {}
    return cfg.get("text_cfg", {}).get("hf_model_name")


def _tokenizer(name: str, model: Any) -> tuple[Any, str | None]:
    """open_clip's tokenizer for ``name`` when it is on this machine, else CLIP's BPE with
    the model's context length (and why)."""
    import open_clip
    from open_clip.tokenizer import SimpleTokenizer

    from photoplug.model.spec import hub_offline
    try:
        with hub_offline(True):
            return open_clip.get_tokenizer(name), None
    except Exception:  # not cached: the hub is not reached from a measurement
        pass
    text = getattr(model, "text", model)
    context = int(getattr(text, "context_length", 77))
    vocab = int(getattr(text, "vocab_size", 0) or text.token_embedding.num_embeddings)
    cfg = open_clip.get_model_config(name) or {}
    real = cfg.get("text_cfg", {}).get("hf_tokenizer_name") or "its tokenizer"
    return SimpleTokenizer(context_length=context), (
        f"text timed with CLIP's BPE tokenizer standing in for {real} (not on this "
        f"machine): same context length {context}, vocabulary {vocab}")


def prepare(name: str, folder: Path, batches: int) -> dict[str, Any]:
    """Stage 1 (torch): build, count, export, probe; the numpy text tower to ``folder``."""
    import logging

    import numpy as np
    import open_clip
    import torch

    from photoplug.model.engine import torch_features
    from photoplug.model.image_tower import ImageTower, runtime_for, sample_pixels
    from photoplug.model.spec import hub_offline
    from photoplug.model.text_tower import TextTower
    logging.disable(logging.WARNING)
    _use_folder(folder)
    torch.set_num_threads(machine.cpu_count())
    notes: list[str] = []
    torch.manual_seed(0)
    try:
        with hub_offline(True):
            model = open_clip.create_model(name, pretrained=None)
    except Exception as exc:
        hf = _hf_text_model(name) if not name.startswith("local-dir:") else None
        if hf:
            raise NotMeasurable(f"not measurable offline: its text tower is the Hugging Face "
                                f"model {hf}, whose configuration needs a download") from exc
        raise NotMeasurable(f"open_clip cannot build it: {str(exc).splitlines()[0][:200]}"
                            ) from exc
    model.eval()
    total = sum(p.numel() for p in model.parameters())
    image = sum(p.numel() for p in model.visual.parameters())
    result: dict[str, Any] = {
        "params_m": round(total / 1e6, 1), "image_params_m": round(image / 1e6, 1),
        "text_params_m": round((total - image) / 1e6, 1),
        "fp32_mb": round(total * 4 / 2**20), "batch": BATCH, "batches": batches,
        "needs_run": False}

    reference = functools.partial(torch_features, model, "cpu")
    # (not under inference_mode: the export traces with autograd on, as photoplug's does)
    runtime = runtime_for(model.visual, getattr(model.visual, "preprocess_cfg", {}),
                          _HASH, "auto", reference)
    tower = ImageTower.load(_HASH)
    probe = tower.fastest.get(machine.signature(), {}) if tower else {}
    result["probe_photos_per_s"] = probe.get("photos_per_s")
    if tower is not None and tower.error:
        notes.append(f"image tower not exported ({tower.error}): torch timed")
    if runtime is not None:
        result["image_runtime"] = runtime.name
        result["needs_run"] = True
        del runtime
    else:
        result["image_runtime"] = "torch"
        size = model.visual.image_size
        side = size if isinstance(size, int) else size[0]
        pixels = np.random.default_rng(0).standard_normal((BATCH, 3, side, side), np.float32)
        if tower is not None and tower.preprocess is not None:
            pixels = sample_pixels(tower.preprocess, BATCH)
        with _PeakRss() as rss:
            seconds = _timed(lambda: reference(pixels), batches)
        result.update(photos_per_s=round(BATCH / seconds, 2), image_memory_mb=rss.mb)

    tokenizer, stand_in = _tokenizer(name, model)
    if stand_in:
        notes.append(stand_in)
    result["text_stand_in"] = stand_in
    text = TextTower.from_model(model, tokenizer)
    if text is not None:
        text.save(folder / "text")
        result["text_runtime"] = "numpy"
        result["needs_run"] = True
    else:
        result["text_runtime"] = "torch"
        notes.append("no numpy copy of this text tower: torch's encode_text timed")

        def query(i: list[int] = [0]) -> None:  # noqa: B006 (a counter across calls)
            i[0] += 1
            with torch.inference_mode():
                model.encode_text(tokenizer([QUERIES[i[0] % len(QUERIES)]]))
        with _PeakRss() as rss:
            seconds = _timed(query, len(QUERIES))
        result.update(ms_per_query=round(seconds * 1000, 2), text_memory_mb=rss.mb)
    result["notes"] = notes
    return result


def run(name: str, folder: Path, batches: int) -> dict[str, Any]:
    """Stage 2 (no torch): the chosen image runtime and the numpy text tower, timed."""
    from photoplug.model.image_tower import ImageTower, sample_pixels
    from photoplug.model.text_tower import TextTower
    _use_folder(folder)
    prepared = json.loads((folder / "prepare.json").read_text())
    result: dict[str, Any] = {}
    if prepared.get("image_runtime") not in (None, "torch"):
        tower = ImageTower.load(_HASH)
        assert tower is not None and tower.preprocess is not None
        pixels = sample_pixels(tower.preprocess, BATCH)
        with _PeakRss() as rss:
            session = tower.open(prepared["image_runtime"], keep=False)
            seconds = _timed(lambda: session.encode(pixels), batches)
        result.update(photos_per_s=round(BATCH / seconds, 2), image_memory_mb=rss.mb)
        del session
    if prepared.get("text_runtime") == "numpy":
        with _PeakRss() as rss:
            text = TextTower.load(folder / "text")
            assert text is not None

            def query(i: list[int] = [0]) -> None:  # noqa: B006 (a counter across calls)
                i[0] += 1
                text.encode([QUERIES[i[0] % len(QUERIES)]])
            seconds = _timed(query, len(QUERIES))
        result.update(ms_per_query=round(seconds * 1000, 2), text_memory_mb=rss.mb)
    result["torch_imported"] = "torch" in sys.modules
    return result


def _main(argv: list[str]) -> int:
    stage, name, folder, batches = argv[0], argv[1], Path(argv[2]), int(argv[3])
    try:
        result = (prepare if stage == "prepare" else run)(name, folder, batches)
    except NotMeasurable as exc:
        result = {"not_measurable": str(exc)}
    (folder / f"{stage}.json").write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
