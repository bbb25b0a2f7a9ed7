"""Where a model's weights come from: a local folder, a file, open_clip's cache or a download.

Resolution order (DESIGN.md): ``--weights FILE`` / ``PHOTOPLUG_WEIGHTS``, then open_clip's
own cache, then open_clip's download where the machine has a network. Nothing here
imports torch, so ``photoplug models`` stays quick.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import platformdirs

from photoplug.errors import PhotoplugError, WeightsMissing
from photoplug.model.image_runtimes import backend_names, is_exact, kind_of

# The default for a new index: the best trade-off on a laptop CPU (docs/models.md): SigLIP2's
# B/32 reads 256 px and many languages, retrieves best of the /32 models (Crossmodal-3600
# 73.2 against 59.4 for OpenAI's ViT-B-32) and encodes photos about as fast.
DEFAULT_MODEL = "ViT-B-32-SigLIP2-256"
DEFAULT_PRETRAINED = "webli"
# What computes image embeddings (image_runtimes.RUNTIMES): ``auto`` is the fastest exact
# runtime measured on this machine (see image_tower.py); auto, torch and the exact runtimes
# (openvino, onnx) give one model's vectors, int8 (older name: onnx-int8) and bf16 others'.
BACKENDS = backend_names()
LOCAL_DIR = "local-dir:"
HF_HUB = "hf-hub:"
# The order open_clip itself prefers inside a model folder.
_CHECKPOINT_NAMES = ("open_clip_model.safetensors", "open_clip_pytorch_model.safetensors",
                     "open_clip_pytorch_model.bin", "open_clip_pytorch_model.pth",
                     "model.safetensors", "pytorch_model.bin", "pytorch_model.pth", "model.pth")


@dataclass(frozen=True)
class ModelSpec:
    """What the user asked for: an open_clip name, a pretrained tag and/or a weights file."""

    name: str
    pretrained: str | None = None
    weights: str | None = None
    backend: str = "auto"  # what computes image embeddings: one of BACKENDS

    def __post_init__(self) -> None:
        kind = kind_of(self.backend)
        if kind is not None and self.backend in kind.aliases:  # an older name: the same
            object.__setattr__(self, "backend", kind.name)

    @classmethod
    def build(cls, name: str | None, pretrained: str | None, weights: str | None,
              backend: str | None = None) -> ModelSpec:
        """Normalise CLI options: default model, absolute local-dir paths, checks."""
        spec = cls._build(name, pretrained, weights)
        backend = backend or "auto"
        if backend not in BACKENDS:
            raise PhotoplugError(f"unknown backend '{backend}' (known: {', '.join(BACKENDS)})")
        return dataclasses.replace(spec, backend=backend)

    @classmethod
    def _build(cls, name: str | None, pretrained: str | None, weights: str | None
               ) -> ModelSpec:
        weights = weights or os.environ.get("PHOTOPLUG_WEIGHTS") or None
        name = name or DEFAULT_MODEL
        if (Path(name).expanduser() / "open_clip_config.json").is_file():
            name = LOCAL_DIR + name  # a model folder given as a plain path
        if name.startswith(LOCAL_DIR):
            if weights:
                raise PhotoplugError("--weights names a checkpoint for a named architecture; "
                                     "a local-dir: model folder carries its own weights")
            folder = Path(name[len(LOCAL_DIR):]).expanduser()
            return cls(LOCAL_DIR + str(folder.resolve()), None, None)
        if name.startswith(HF_HUB):
            return cls(name, None, None)
        if weights:
            path = Path(weights).expanduser().resolve()
            if not path.is_file():
                raise PhotoplugError(f"weights file not found: {weights}")
            return cls(name, pretrained, str(path))
        if pretrained is None and name == DEFAULT_MODEL:
            pretrained = DEFAULT_PRETRAINED
        return cls(name, pretrained, None)

    @classmethod
    def from_recorded(cls, name: str, pretrained: str) -> ModelSpec:
        """The spec of a model as the index recorded it (see ``recorded_pretrained``)."""
        pretrained, _, tag = pretrained.partition("#")
        kind = kind_of(tag) if tag else None
        backend = kind.name if kind is not None and not kind.exact else tag or "auto"
        if pretrained.startswith("file:"):
            return cls(name, None, pretrained[len("file:"):], backend)
        return cls(name, pretrained or None, None, backend)

    @property
    def recorded_pretrained(self) -> str:
        """The pretrained tag, or ``file:PATH`` for a weights file, as the index stores it;
        a runtime that is not exact adds ``#`` and its record (int8: ``#onnx-int8``, bf16:
        ``#openvino-bf16``): its vectors are another model's. The exact backends add
        nothing: their vectors are torch's (each export is checked), so they share a model."""
        tag = f"file:{self.weights}" if self.weights else (self.pretrained or "")
        kind = kind_of(self.backend)
        return tag if is_exact(self.backend) or kind is None else f"{tag}#{kind.recorded}"

    @property
    def label(self) -> str:
        if self.weights:
            label = f"{self.name} ({Path(self.weights).name})"
        else:
            label = f"{self.name} ({self.pretrained})" if self.pretrained else self.name
        return label if is_exact(self.backend) else f"{label} [{self.backend}]"

    @property
    def download_command(self) -> str:
        if self.name.startswith(HF_HUB) or not self.pretrained:
            return f"photoplug models download {self.name}"
        return f"photoplug models download {self.name} --pretrained {self.pretrained}"


@dataclass(frozen=True)
class ModelIdentity:
    """What the index records about the model that made an embedding."""

    name: str
    pretrained: str
    weights_hash: str
    dim: int


@contextlib.contextmanager
def hub_offline(offline: bool) -> Iterator[None]:
    """Switch huggingface_hub's offline mode for the duration (it is read per call)."""
    import logging

    from huggingface_hub import constants
    logging.getLogger("huggingface_hub").setLevel(logging.ERROR)  # no retry chatter
    before = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = offline
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = before


def network_allowed() -> bool:
    """False under PHOTOPLUG_OFFLINE=1 or HF_HUB_OFFLINE=1: then only local files are used."""
    return not any(os.environ.get(v, "").lower() in ("1", "true", "yes")
                   for v in ("PHOTOPLUG_OFFLINE", "HF_HUB_OFFLINE"))


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether Hugging Face answers at all: a quick check instead of minutes of retries."""
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants
    host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def local_dir_checkpoint(folder: Path) -> Path | None:
    """The weights file open_clip would load from a model folder."""
    for name in _CHECKPOINT_NAMES:
        if (folder / name).is_file():
            return folder / name
    found = sorted(p for ext in ("*.safetensors", "*.bin", "*.pth") for p in folder.glob(ext))
    return found[0] if found else None


def _tag_checkpoint(name: str, tag: str, download: bool) -> Path | None:
    """The cached file for an open_clip (model, tag); download it only when asked to."""
    import open_clip
    from open_clip.pretrained import download_pretrained

    cfg = open_clip.get_pretrained_cfg(name, tag)
    if not cfg:
        tags = open_clip.list_pretrained_tags_by_model(name)
        if not tags and name not in open_clip.list_models():
            raise PhotoplugError(f"unknown model '{name}'; `photoplug models` lists them")
        raise PhotoplugError(f"'{name}' has no pretrained tag '{tag}' "
                             f"(known: {', '.join(tags) or 'none'})")
    if not download and not cfg.get("hf_hub"):
        cached = Path("~/.cache/clip").expanduser() / os.path.basename(cfg.get("url", ""))
        return cached if cached.is_file() else None
    if download and not hub_reachable():
        return None
    try:
        with hub_offline(not download):
            return Path(download_pretrained(cfg))
    except Exception:  # any hub or network failure means: not available this way
        return None


def _hub_checkpoint(name: str, download: bool) -> Path | None:
    from open_clip.pretrained import download_pretrained_from_hf
    repo = name[len(HF_HUB):]
    if download and not hub_reachable():
        return None
    try:
        with hub_offline(not download):
            download_pretrained_from_hf(repo, filename="open_clip_config.json")
            return Path(download_pretrained_from_hf(repo))
    except Exception:
        return None


def find_checkpoint(spec: ModelSpec, download: bool = False) -> Path:
    """The weights file for ``spec``, from disk or (``download=True``) the network.

    Raises WeightsMissing with the one sentence that says how to get them.
    """
    if spec.weights:
        return Path(spec.weights)
    if spec.name.startswith(LOCAL_DIR):
        folder = Path(spec.name[len(LOCAL_DIR):])
        if not (folder / "open_clip_config.json").is_file():
            raise PhotoplugError(f"{folder} is not an open_clip model folder "
                                 f"(no open_clip_config.json)")
        found = local_dir_checkpoint(folder)
        if found is None:
            raise WeightsMissing(f"the model folder {folder} holds no weights file "
                                 f"(expected open_clip_model.safetensors)")
        return found
    cache_file, remembered = _cache_json("checkpoints.json")
    key = f"{spec.name}|{spec.pretrained or ''}"
    if remembered.get(key) and Path(remembered[key]).is_file():
        return Path(remembered[key])  # found before: no need to import open_clip to look
    if spec.name.startswith(HF_HUB):
        found = _hub_checkpoint(spec.name, download=False)
        if found is None and download:
            found = _hub_checkpoint(spec.name, download=True)
    elif not spec.pretrained:
        raise PhotoplugError(f"'{spec.name}' needs --pretrained TAG or --weights FILE")
    else:
        found = _tag_checkpoint(spec.name, spec.pretrained, download=False)
        if found is None and download:
            found = _tag_checkpoint(spec.name, spec.pretrained, download=True)
    if found is None:
        raise WeightsMissing(
            f"The weights for {spec.label} are not on this machine and could not be downloaded: "
            f"run `{spec.download_command}` on a machine with a network "
            f"(or pass --weights FILE).")
    _save_cache_json(cache_file, {**remembered, key: str(found)})
    return found


def _cache_json(name: str) -> tuple[Path, dict[str, str]]:
    """A small JSON map in the user cache dir (empty when missing or unreadable)."""
    path = Path(platformdirs.user_cache_dir("photoplug")) / name
    try:
        return path, json.loads(path.read_text())
    except (OSError, ValueError):
        return path, {}


def _save_cache_json(path: Path, data: dict[str, str]) -> None:
    with contextlib.suppress(OSError):  # a cache that cannot be written only costs time
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data))


def file_digest(path: Path) -> str:
    """A content hash of a weights file, cached by (path, size, mtime) across runs."""
    stat = path.stat()
    cache_file, cache = _cache_json("weights-hashes.json")
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    if key not in cache:
        digest = hashlib.blake2b(digest_size=16)
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        cache[key] = digest.hexdigest()
        _save_cache_json(cache_file, cache)
    return cache[key]
