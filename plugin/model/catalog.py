"""The models worth choosing between, with published quality numbers (and where they were
published), and whether their weights are already on this machine.

Speed is not published here: it depends on the CPU, so ``photoplug models --measure``
measures it on this machine (``model_speed.py``) and the table shows what was measured.
A quality number is only ever one a named source published; where none was found the
field is None (shown as ``-``), never a guess. See docs/models.md.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from photoplug.errors import PhotoplugError
from photoplug.model.spec import DEFAULT_MODEL, DEFAULT_PRETRAINED, ModelSpec, find_checkpoint

MULTILINGUAL = "multilingual"

# The sources of the published numbers, named once.
IMMICH = "Immich's smart-search model table, as quoted in photoplug issue #21"
OPEN_CLIP_README = "open_clip's README results table (in the installed package's metadata)"
OPEN_CLIP_RESULTS = "open_clip's zero-shot results table (docs/openclip_results.csv)"
METRICS = {  # key: (short label, what it measures)
    "xm3600": ("XM3600", "Crossmodal-3600 text-to-image retrieval, mean of "
                         "recall@1/5/10 (%)"),
    "xm3600_es": ("XM3600-es", "the same with Spanish queries (%)"),
    "imagenet": ("IN", "ImageNet-1k zero-shot top-1 accuracy (%)"),
}


@dataclass(frozen=True)
class Quality:
    """One published number: which metric, its value and who published it."""

    metric: str  # a key of METRICS
    value: float
    source: str

    @property
    def label(self) -> str:
        return METRICS[self.metric][0]

    def as_dict(self) -> dict[str, Any]:
        short, description = METRICS[self.metric]
        return {"metric": self.metric, "label": short, "description": description,
                "value": self.value, "source": self.source}


@dataclass(frozen=True)
class Recommended:
    """A model worth choosing: open_clip name and tag, family, languages, published quality."""

    model: str
    pretrained: str
    family: str  # CLIP, SigLIP, SigLIP2, MobileCLIP2, multilingual CLIP
    languages: str  # "en", or MULTILINGUAL (trained for many languages)
    quality: tuple[Quality, ...] = ()  # empty: nothing published found (shown as "-")
    note: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return self.model, self.pretrained


RECOMMENDED: tuple[Recommended, ...] = (
    Recommended("ViT-B-32", "openai", "CLIP", "en",
                (Quality("xm3600", 59.4, IMMICH), Quality("xm3600_es", 29.8, IMMICH),
                 Quality("imagenet", 63.3, OPEN_CLIP_RESULTS)),
                "photoplug's long-standing default; English only"),
    Recommended("ViT-B-32", "laion2b_s34b_b79k", "CLIP", "en",
                (Quality("xm3600", 68.8, IMMICH),),
                "same architecture and speed as OpenAI's, better retrieval"),
    Recommended("ViT-B-32-256", "datacomp_s34b_b86k", "CLIP", "en",
                (Quality("imagenet", 72.8, OPEN_CLIP_README),)),
    Recommended("ViT-B-32-SigLIP2-256", "webli", "SigLIP2", MULTILINGUAL,
                (Quality("xm3600", 73.2, IMMICH),),
                "Gemma tokenizer (256k words): large text embedding table"),
    Recommended("ViT-B-16-SigLIP2", "webli", "SigLIP2", MULTILINGUAL,
                (Quality("xm3600", 75.2, IMMICH), Quality("xm3600_es", 82.2, IMMICH)),
                "16-pixel patches: about 4x the image work of a /32 model"),
    Recommended("MobileCLIP2-S0", "dfndr2b", "MobileCLIP2", "en", ()),
    Recommended("MobileCLIP2-S2", "dfndr2b", "MobileCLIP2", "en", ()),
    Recommended("MobileCLIP2-B", "dfndr2b", "MobileCLIP2", "en", ()),
    Recommended("xlm-roberta-base-ViT-B-32", "laion5b_s13b_b90k", "multilingual CLIP",
                MULTILINGUAL, (), "Hugging Face XLM-RoBERTa text tower"),
    Recommended("nllb-clip-base-siglip", "v1", "multilingual CLIP", MULTILINGUAL, (),
                "Hugging Face NLLB text tower, SigLIP image tower (384 px)"),
)

# What `photoplug models download` fetches without a NAME (docs/models.md says why).
DEFAULT_DOWNLOAD = (DEFAULT_MODEL, DEFAULT_PRETRAINED)  # what a new index uses
# The architecture every other one is compared with (benchmarks/model_speeds.py).
BASELINE = "ViT-B-32"


def recommended(name: str) -> list[Recommended]:
    """The recommended entries of one open_clip architecture (one per pretrained tag)."""
    return [r for r in RECOMMENDED if r.model == name]


def _local_path(name: str, tag: str) -> str | None:
    try:
        return str(find_checkpoint(ModelSpec(name, tag), download=False))
    except PhotoplugError:
        return None


def catalog(show_all: bool, speeds: dict[str, dict[str, Any]] | None = None
            ) -> list[dict[str, Any]]:
    """One row per (model, pretrained tag): the recommended ones, or (``show_all``) every
    pair open_clip knows; each with family, languages, published quality (with sources),
    the speed measured on this CPU (``speeds``: architecture -> model_speed result; absent
    when not measured) and whether, and where, the weights are on this machine."""
    entries = {r.key: r for r in RECOMMENDED}
    if show_all:
        import open_clip
        pairs = list(open_clip.list_pretrained())
    else:
        pairs = list(entries)
    speeds = speeds or {}
    rows = []
    for name, tag in pairs:
        entry = entries.get((name, tag))
        path = _local_path(name, tag)
        speed = speeds.get(name)
        rows.append({
            "model": name, "pretrained": tag,
            "recommended": entry is not None,
            "default": (name, tag) == DEFAULT_DOWNLOAD,
            "family": entry.family if entry else None,
            "languages": entry.languages if entry else None,
            "quality": [q.as_dict() for q in entry.quality] if entry else [],
            "note": entry.note if entry else "",
            "speed": speed,
            "local": path is not None, "path": path})
    return rows


def entries_as_dicts() -> list[dict[str, Any]]:
    """RECOMMENDED as plain data (quality with its sources)."""
    return [{**asdict(r), "quality": [q.as_dict() for q in r.quality]} for r in RECOMMENDED]
