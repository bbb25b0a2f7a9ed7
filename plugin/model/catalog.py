"""The models open_clip knows, and whether their weights are already on this machine."""
from __future__ import annotations

from typing import Any

from photoplug.errors import PhotoplugError
from photoplug.model.spec import ModelSpec, find_checkpoint

# A short list worth knowing; `photoplug models --all` shows every pair open_clip has.
RECOMMENDED = (
    ("ViT-B-32", "openai"),
    ("ViT-B-32", "laion2b_s34b_b79k"),
    ("ViT-B-16", "openai"),
    ("ViT-L-14", "openai"),
    ("ViT-B-16-SigLIP", "webli"),
)


def catalog(show_all: bool) -> list[dict[str, Any]]:
    """Rows of model, pretrained tag, local flag and weights path (when local)."""
    import open_clip
    pairs = open_clip.list_pretrained() if show_all else list(RECOMMENDED)
    rows = []
    for name, tag in pairs:
        try:
            path = str(find_checkpoint(ModelSpec(name, tag), download=False))
        except PhotoplugError:
            path = None
        rows.append({"model": name, "pretrained": tag, "local": path is not None,
                     "path": path})
    return rows
