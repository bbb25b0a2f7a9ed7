"""HuggingFace text towers exported to ONNX, for searches without torch.

open_clip's ``HFTextEncoder`` (``xlm-roberta-base-ViT-B-32``, ``nllb-clip-base-siglip``)
wraps a transformers model that ``text_tower.TextTower`` does not copy to numpy. Its
``encode_text`` (token ids -> features) is exported once to ONNX instead, into
``~/.cache/photoplug/text-towers/HASH-onnx-vN/`` (beside the numpy copies, keyed by the
weights' content hash), with the tokenizer's HF files and ``tower.json``: how to
tokenize (``clean``, ``context_length``, the NLLB source ``language``), the logit scale
and bias, the embedding size and each file's size. The export is checked on a fixed
batch of texts: the same token ids as open_clip's tokenizer, and embeddings within
cosine ``MIN_COSINE`` of torch's; one that fails is recorded as refused (not tried again)
and the engine keeps torch. A query then runs ``hf_tokenizer.HFTokenizer`` and ONNX
Runtime alone: no torch, no transformers.

NLLB's language: open_clip's ``set_language`` changes nothing with transformers 5, so
the ids carry the tokenizer's own source language (``src_lang``, ``eng_Latn`` by
default). The export records it and the query tokenizer sets it the same way
(``HFTokenizer.set_language``); the ids check proves the two agree.

``load_text_tower`` gives whichever kind is saved for some weights (the numpy copy
first); both have ``encode(texts)``, ``logit_scale``, ``logit_bias`` and ``dim``.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from photoplug.errors import PhotoplugError
from photoplug.model.text_tower import (CHECK_TEXTS, HF_FILES, MIN_COSINE, SavedScale, TextTower,
                                        hf_options, cache_folder, model_logit_bias,
                                        model_logit_scale)

FORMAT = 1
KIND = "onnx"
MODEL_FILE = "text.onnx"
DEFAULT_LANGUAGE = "eng_Latn"  # NLLB's when its tokenizer names none
CHUNK = 32  # texts per ONNX Runtime call


def folder_for(weights_hash: str) -> Path:
    """Where the ONNX export of these weights' HF text tower is kept: a sibling of the
    numpy copy's ``text_tower.cache_folder``."""
    return cache_folder(weights_hash).with_name(f"{weights_hash}-{KIND}-v{FORMAT}")


def load_text_tower(weights_hash: str) -> TextTower | OnnxTextTower | None:
    """The saved text tower of these weights, whichever kind (numpy copy, else ONNX
    export), without torch; None when neither is saved."""
    return TextTower.load(cache_folder(weights_hash)) or OnnxTextTower.load(
        folder_for(weights_hash))


class TextTowerBroken(PhotoplugError):
    """A saved export that cannot be opened or run (a damaged file)."""

    def __init__(self, folder: Path, reason: str) -> None:
        super().__init__(f"the exported text model in {folder} is damaged ({reason}); "
                         f"delete that folder to export it again")
        self.folder, self.reason = folder, reason


def note(message: str) -> None:
    print(f"photoplug: {message}", file=sys.stderr)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]


class OnnxTextTower(SavedScale):
    """An exported HF text tower: its tokenizer and an ONNX Runtime session, both opened
    on first use (an index run that never encodes text never pays for them)."""

    def __init__(self, folder: Path, config: dict[str, Any]) -> None:
        self.folder = folder
        self.config = config
        self._lock = threading.Lock()
        self._tokenizer: Any = None
        self._session: Any = None

    @property
    def dim(self) -> int:
        return int(self.config["dim"])

    @property
    def language(self) -> str | None:
        """The NLLB source language the ids carry (None: a tokenizer without one)."""
        return self.config.get("language")

    @property
    def tokenizer(self) -> Any:
        self.open()
        return self._tokenizer

    @classmethod
    def load(cls, folder: Path) -> OnnxTextTower | None:
        """The export saved in ``folder``, or None if there is none, it was refused, or a
        file is missing or not the size it was written with."""
        try:
            config = json.loads((folder / "tower.json").read_text())
            if config.get("format") != FORMAT or config.get("error") is not None:
                return None
            for name, size in config["sizes"].items():
                if (folder / name).stat().st_size != size:
                    return None
            return cls(folder, config)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def open(self) -> None:
        """Build the tokenizer and the session (once); TextTowerBroken if they cannot be."""
        with self._lock:
            if self._session is not None:
                return
            try:
                from photoplug.model.hf_tokenizer import HFTokenizer, save_compact
                import onnxruntime as ort
                options = hf_options(self.config)
                save_compact(self.folder, self.config["context_length"], self.language,
                             **options)  # where an export from before them lacks it
                tokenizer = HFTokenizer(self.folder, self.config["context_length"], **options)
                if self.language:
                    tokenizer.set_language(self.language)
                options = ort.SessionOptions()
                options.intra_op_num_threads = 1  # query-sized work: one thread is fastest
                options.inter_op_num_threads = 1
                options.log_severity_level = 4
                session = ort.InferenceSession(str(self.folder / MODEL_FILE), options,
                                               providers=["CPUExecutionProvider"])
            except Exception as exc:  # a damaged file: tokenizers' and ORT's own errors
                raise self._broken(exc) from exc
            self._tokenizer, self._session = tokenizer, session

    def _broken(self, exc: BaseException) -> TextTowerBroken:
        return TextTowerBroken(self.folder, _short(exc))

    def encode(self, texts: list[str], chunk: int = CHUNK) -> np.ndarray:
        """L2-normalised embeddings, one row per text."""
        self.open()
        out = np.empty((len(texts), self.dim), np.float32)
        try:
            for start in range(0, len(texts), chunk):
                ids = self._tokenizer(texts[start:start + chunk])
                out[start:start + chunk] = self._session.run(None, {"ids": ids})[0]
        except Exception as exc:
            raise self._broken(exc) from exc
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out


# -- made with torch ----------------------------------------------------------------

def is_hf_text(model: Any) -> bool:
    """Whether ``model``'s text tower is a HuggingFace model (open_clip's HFTextEncoder)."""
    try:
        from open_clip.hf_model import HFTextEncoder
    except ImportError:
        return False
    return isinstance(getattr(model, "text", None), HFTextEncoder)


def load_or_export(model: Any, tokenizer: Any, weights_hash: str) -> OnnxTextTower | None:
    """The checked ONNX export of ``model``'s HF text tower, made the first time (or
    again, when the saved one is damaged); None for another kind of tower, or one whose
    export was refused (recorded once, with its reason)."""
    if not is_hf_text(model):
        return None
    folder = folder_for(weights_hash)
    tower = OnnxTextTower.load(folder)
    if tower is not None:
        try:
            tower.open()
            return tower
        except TextTowerBroken as exc:
            note(f"the exported text model in {folder} is damaged ({exc.reason}): "
                 f"exporting it again")
    elif _refused(folder):
        return None
    try:
        return export(model, tokenizer, weights_hash)
    except Exception as exc:  # an unwritable cache, no onnx package, an exporter's error
        note(f"text embeddings through torch: could not export the text model "
             f"({_short(exc)})")
        return None


def _refused(folder: Path) -> bool:
    try:
        return json.loads((folder / "tower.json").read_text()).get("error") is not None
    except (OSError, ValueError, AttributeError):
        return False


def _encoder(model: Any) -> Any:
    """``encode_text`` alone, the graph the export takes (the module class is made here,
    so importing this module never imports torch)."""
    import torch

    class TextEncoder(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return self.inner.encode_text(ids)

    return TextEncoder(model).eval()


def export(model: Any, tokenizer: Any, weights_hash: str) -> OnnxTextTower | None:
    """Export ``model``'s HF text tower, check it against torch and save it (or the
    reason it was refused, so it is not tried again); the tower, or None if refused."""
    import onnx  # noqa: F401  (torch's exporter needs it)
    import torch
    from photoplug.model.hf_tokenizer import HFTokenizer, save_compact
    from photoplug.model.text_tower import _tokenizer_config
    folder = folder_for(weights_hash)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    config: dict[str, Any] = {"format": FORMAT, "kind": KIND, "error": None}
    try:
        spec = _tokenizer_config(tokenizer, tmp)
        if spec is None:
            raise _Refused("its tokenizer is not one photoplug reproduces without torch")
        for stale in set(p.name for p in tmp.iterdir()) - set(HF_FILES):
            (tmp / stale).unlink()  # save_pretrained's extras (special_tokens_map...)
        inner = getattr(tokenizer, "tokenizer", None)
        language = (getattr(inner, "src_lang", None) or DEFAULT_LANGUAGE) \
            if hasattr(inner, "src_lang") else None
        context = int(tokenizer.context_length)
        ours = HFTokenizer(tmp, context, **hf_options({"tokenizer": spec}))
        if language:
            ours.set_language(language)
        ids = ours(CHECK_TEXTS)
        if not np.array_equal(ids, tokenizer(CHECK_TEXTS).numpy()):
            raise _Refused("its tokenizer's ids differ from open_clip's")
        device = next(model.parameters()).device
        with torch.inference_mode():
            reference = model.encode_text(torch.from_numpy(ids).to(device)).float().cpu().numpy()
        example = torch.from_numpy(ids[:2]).to(device)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's and the legacy exporter's
            torch.onnx.export(_encoder(model), (example,), str(tmp / MODEL_FILE),
                              dynamo=False, input_names=["ids"], output_names=["features"],
                              dynamic_axes={"ids": {0: "batch"}, "features": {0: "batch"}},
                              opset_version=17)
        config.update(dim=int(reference.shape[1]), context_length=context, tokenizer=spec,
                      language=language, logit_scale=model_logit_scale(model),
                      logit_bias=model_logit_bias(model),
                      sizes={p.name: p.stat().st_size for p in tmp.iterdir() if p.is_file()})
        tower = OnnxTextTower(tmp, config)
        reference /= np.linalg.norm(reference, axis=1, keepdims=True)
        cosine = float((tower.encode(CHECK_TEXTS) * reference).sum(1).min())
        config["cosine"] = cosine
        if cosine < MIN_COSINE:
            raise _Refused(f"ONNX Runtime's embeddings differ from torch's (cosine "
                           f"{cosine:.6f}, under {MIN_COSINE})")
        tower = None  # its session goes before the folder moves
        save_compact(tmp, context, language, **hf_options(config))
    except _Refused as exc:
        config = {"format": FORMAT, "kind": KIND, "error": str(exc)}
        note(f"text embeddings through torch: the text model cannot run without it: {exc}")
        for stale in tmp.iterdir():
            stale.unlink()
    except Exception:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    (tmp / "tower.json").write_text(json.dumps(config, indent=1))
    shutil.rmtree(folder, ignore_errors=True)  # a damaged earlier export
    try:
        os.replace(tmp, folder)
    except OSError:  # another process exported it first
        shutil.rmtree(tmp, ignore_errors=True)
    return OnnxTextTower.load(folder)


class _Refused(Exception):
    """The export does not reproduce the model: why."""
