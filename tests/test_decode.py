"""Decoding: draft-mode size, orientation, formats that need care, and clear refusals."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import draw_photo
from photo_factory import bad_inputs, good_formats
from photoplug.media.decode import Unreadable, decode


def load(path: Path, min_side: int = 64) -> Image.Image:
    return decode(path.read_bytes(), path, min_side)


def test_large_jpeg_is_decoded_small_but_not_below_the_model_size(tmp_path: Path) -> None:
    photo = draw_photo(tmp_path / "big.jpg", "red", "circle", seed=1, size=(4000, 3000))
    small = load(photo, 224)
    assert small.mode == "RGB"
    assert min(small.size) >= 224 and small.size[0] <= 1000  # DCT scaling at 1/4 or 1/8


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    photo = draw_photo(tmp_path / "r.jpg", "red", "circle", seed=1, size=(800, 600))
    with Image.open(photo) as im:
        exif = im.getexif()
        exif[0x0112] = 6
        im.save(photo, exif=exif)
    assert load(photo).size[0] < load(photo).size[1]


def test_special_formats(tmp_path: Path) -> None:
    good_formats(tmp_path)
    grey = np.asarray(load(tmp_path / "grey16.png"))
    assert grey.min() < 10 and grey.max() > 245, "16-bit greys must be scaled, not clipped"
    gif = np.asarray(load(tmp_path / "f.gif")).reshape(-1, 3).mean(axis=0)
    assert gif[0] > gif[2], "the first (red) frame of the GIF"
    assert load(tmp_path / "g.heic").size == (400, 300)
    assert load(tmp_path / "cmyk.jpg").mode == "RGB"
    assert load(tmp_path / "h.dng").size == (200, 150)  # a RAW without preview: half size


@pytest.mark.parametrize("name", ["zero.jpg", "truncated.jpg", "random.jpg", "bomb.png",
                                  "truncated.dng"])
def test_bad_files_raise_one_line_reasons(tmp_path: Path, name: str) -> None:
    expected = bad_inputs(tmp_path)
    with pytest.raises(Unreadable) as err:
        load(tmp_path / name)
    assert expected[name] in str(err.value) and "\n" not in str(err.value)
