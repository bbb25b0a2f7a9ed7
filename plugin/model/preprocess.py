"""open_clip's image preprocessing in PIL and numpy, without torch or torchvision.

open_clip builds its inference transform from the model's ``preprocess_cfg``
(``open_clip.transform.image_transform``): a resize (shortest side by default, or
longest side, or squash), a centre crop (or pad), ``ToTensor`` and ``Normalize``.
torchvision resizes a PIL image with PIL itself, so doing the same steps here with PIL
gives the same pixels; the sizes and crop offsets follow torchvision's arithmetic.
"""
from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

RESIZE_MODES = ("shortest", "longest", "squash")
# Image.info key decode() sets on a JPEG decoded scaled down: (the image's size, the box
# the full frame covers in it). Its last pixels may stand for a partial 8x8 block, so the
# resize reads exactly that box, and sizes follow the full frame's proportions.
FULL_FRAME = "photoplug.full_frame"


@dataclass(frozen=True)
class Preprocess:
    """One model's preprocessing: PIL image in (converted to RGB first, as photoplug's
    decoder gives it), float32 (3, H, W) array out."""

    size: tuple[int, int]  # (height, width)
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bicubic"
    resize_mode: str = "shortest"
    fill_color: int = 0

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> Preprocess:
        """From open_clip's ``model.visual.preprocess_cfg`` (or this class's ``as_config``);
        ValueError for a transform this module does not reproduce."""
        size = cfg["size"]
        size = (int(size), int(size)) if isinstance(size, (int, float)) else \
            (int(size[0]), int(size[1]))
        # open_clip uses bicubic for anything but "bilinear" ("random" is training-only)
        interpolation = "bilinear" if cfg.get("interpolation") == "bilinear" else "bicubic"
        mode = cfg.get("resize_mode") or "shortest"
        if mode not in RESIZE_MODES or cfg.get("mode", "RGB") != "RGB":
            raise ValueError(f"open_clip preprocessing {dict(cfg)} is not reproduced here")
        return cls(size, _three(cfg["mean"]), _three(cfg["std"]), interpolation, mode,
                   int(cfg.get("fill_color") or 0))

    def as_config(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def min_side(self) -> int:
        """The shortest side a decoded image needs so that nothing is upscaled."""
        return max(self.size)

    def __call__(self, image: Image.Image) -> np.ndarray:
        """The model's input for one RGB image: resized, cropped, normalised, CHW."""
        from PIL import Image  # here: a text search imports this module, not PIL
        height, width = self.size
        resample = (Image.Resampling.BILINEAR if self.interpolation == "bilinear"
                    else Image.Resampling.BICUBIC)
        if image.mode != "RGB":
            image = image.convert("RGB")
        frame = image.info.get(FULL_FRAME)
        box = frame[1] if frame and frame[0] == image.size else (0, 0, *image.size)
        w, h = box[2] - box[0], box[3] - box[1]  # the full frame's proportions
        if self.resize_mode == "squash":
            size = (width, height)
        elif self.resize_mode == "longest":
            size = _keep_ratio(w, h, self.size, longest=True)
        elif height == width:  # torchvision's Resize(int): the short side, long one truncated
            new_long = int(height * max(w, h) / min(w, h))
            size = (height, new_long) if w <= h else (new_long, height)
        else:  # open_clip's ResizeKeepRatio, which is always bicubic
            size, resample = _keep_ratio(w, h, self.size, longest=False), \
                Image.Resampling.BICUBIC
        if (size, box) != (image.size, (0, 0, *image.size)):  # torchvision skips a no-op
            image = image.resize(size, resample, box=box)
        # torchvision's CenterCrop pads with 0; open_clip's CenterCropOrPad with fill_color
        fill = self.fill_color if self.resize_mode == "longest" else 0
        image = _center_crop_or_pad(image, height, width, fill)
        rgb = np.asarray(image)
        return np.stack([self._levels[c][rgb[:, :, c]] for c in range(3)])

    @functools.cached_property
    def _levels(self) -> np.ndarray:
        """ToTensor + Normalize of each 8-bit level, per channel (3, 256), in float32 as
        torchvision computes it: (level / 255 - mean) / std."""
        levels = np.arange(256, dtype=np.float32)[None, :] / np.float32(255)
        return (levels - np.asarray(self.mean, np.float32)[:, None]) / \
            np.asarray(self.std, np.float32)[:, None]


def _three(value: Any) -> tuple[float, float, float]:
    """A per-channel value (open_clip also takes one number for all three)."""
    values = value if isinstance(value, (list, tuple)) else (value,) * 3
    return float(values[0]), float(values[1]), float(values[2])


def _keep_ratio(w: float, h: float, target: tuple[int, int], longest: bool
                ) -> tuple[int, int]:
    """open_clip's ``ResizeKeepRatio.get_params`` as PIL's (width, height)."""
    ratios = (h / target[0], w / target[1])
    ratio = max(ratios) if longest else min(ratios)
    return round(w / ratio), round(h / ratio)


def _center_crop_or_pad(image: Image.Image, height: int, width: int, fill: int
                        ) -> Image.Image:
    """torchvision's ``center_crop`` (and open_clip's ``center_crop_or_pad``): pad evenly
    with ``fill`` where the image is smaller, then crop the centre."""
    w, h = image.size
    if width > w or height > h:
        from PIL import Image
        padded = Image.new("RGB", (max(w, width), max(h, height)), (fill,) * 3)
        padded.paste(image, ((width - w) // 2 if width > w else 0,
                             (height - h) // 2 if height > h else 0))
        image, (w, h) = padded, padded.size
    if (w, h) == (width, height):
        return image
    top, left = int(round((h - height) / 2.0)), int(round((w - width) / 2.0))
    return image.crop((left, top, left + width, top + height))
