"""RAW files: DNGs made at test time (tifffile), with and without an embedded preview,
turned by their Orientation tag, cut short; found by toy-clip like any photo."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import Cli, draw, draw_photo
from photo_factory import dng
from photoplug.media.decode import DRAFT_OVERSAMPLE, Unreadable, decode

TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
             4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
             6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
             8: Image.Transpose.ROTATE_90}


def picture(colour: str, shape: str, seed: int = 0, size: tuple[int, int] = (600, 400)
            ) -> Image.Image:
    return draw(colour, shape, size, np.random.default_rng(seed))


def load(path: Path, min_side: int = 64) -> Image.Image:
    return decode(path.read_bytes(), path, min_side)


def mean_colour(image: Image.Image) -> np.ndarray:
    """The average colour of the drawing's shape: the pixels far from the background's."""
    rgb = np.asarray(image.convert("RGB"), np.float64).reshape(-1, 3)
    corner = np.asarray(image.convert("RGB"))[2, 2].astype(np.float64)
    shape = rgb[np.abs(rgb - corner).sum(axis=1) > 120]
    return shape.mean(axis=0)


def like(a: Image.Image, b: Image.Image) -> float:
    """Correlation of two images at a common small size (same proportions required)."""
    assert (a.width > a.height) == (b.width > b.height)
    size = (24, 16) if a.width > a.height else (16, 24)
    x, y = (np.asarray(i.convert("L").resize(size), np.float64).ravel() for i in (a, b))
    return float(np.corrcoef(x, y)[0, 1])


def test_red_circle_dngs_are_found_by_toy_clip(toy_cli: Cli, tmp_path: Path) -> None:
    """The issue's case: DNGs without a preview were all skipped; now each is indexed
    (from its preview, or demosaiced) and found by what it shows."""
    folder = tmp_path / "photos"
    red = picture("red", "circle", seed=1)
    dng(folder / "red_circle.dng", red)  # no preview: LibRaw demosaics it
    blue = picture("blue", "square", seed=2)
    dng(folder / "blue_square.dng", blue, preview=blue)  # a JPEG preview of full size
    green = picture("green", "triangle", seed=3)
    dng(folder / "green_triangle.dng", green.transpose(Image.Transpose.ROTATE_90),
        preview=green.transpose(Image.Transpose.ROTATE_90), jpeg=False, orientation=6)
    for n, (colour, shape) in enumerate([("yellow", "circle"), ("purple", "square"),
                                         ("orange", "triangle"), ("red", "square")]):
        draw_photo(folder / f"{colour}_{shape}.jpg", colour, shape, seed=10 + n,
                   size=(600, 400))
    report = toy_cli.json("index", str(folder))
    assert report["skipped"] == [] and report["encoded"] == 7
    for query, expected in (("a photo of a red circle", "red_circle.dng"),
                            ("a photo of a blue square", "blue_square.dng"),
                            ("a photo of a green triangle", "green_triangle.dng")):
        hits = toy_cli.json("search", query, str(folder), "--top", "1", model=False)
        assert Path(hits[0]["path"]).name == expected, (query, hits)


def test_a_preview_large_enough_is_used_else_the_mosaic(tmp_path: Path) -> None:
    """The preview (here a blue square, to tell) stands for the photo when its short side
    is at least DRAFT_OVERSAMPLE times what the model needs; else the mosaic (a red
    circle) is demosaiced at half size."""
    mosaic, shown = picture("red", "circle", seed=4), picture("blue", "square", seed=5)
    for jpeg in (True, False):
        path = dng(tmp_path / f"p{jpeg}.dng", mosaic, preview=shown, jpeg=jpeg)
        used = load(path, min_side=400 // DRAFT_OVERSAMPLE)
        assert like(used, shown) > 0.9 and like(used, mosaic) < 0.5
        demosaiced = load(path, min_side=400 // DRAFT_OVERSAMPLE + 1)
        assert demosaiced.size == (300, 200)  # half size
        assert like(demosaiced, mosaic) > 0.9
        red, green, blue = mean_colour(demosaiced)
        assert red > 180 and green < 90 and blue < 90


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_is_honoured_with_and_without_a_preview(tmp_path: Path,
                                                            orientation: int) -> None:
    """The file holds the picture as the sensor saw it; the Orientation tag says how to
    turn it: preview (whose EXIF, if any, LibRaw fills in) and mosaic come out upright."""
    upright = picture("purple", "triangle", seed=6)
    inverse = {5: 5, 6: 8, 7: 7, 8: 6}.get(orientation, orientation)  # undo the turn
    stored = upright.transpose(TRANSPOSE[inverse]) if orientation > 1 else upright
    for preview, jpeg in ((None, True), (stored, True), (stored, False)):
        path = dng(tmp_path / "o.dng", stored, preview=preview, jpeg=jpeg,
                   orientation=orientation)
        image = load(path)
        assert like(image, upright) > 0.9, (orientation, preview is not None, jpeg)


def test_cut_short_and_bad_raw_files_get_one_line_reasons(tmp_path: Path) -> None:
    whole = dng(tmp_path / "whole.dng", picture("red", "circle"))
    cut = tmp_path / "cut.dng"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    # the preview is cut in the middle: it cannot stand for the photo, nor can the mosaic
    previewed = dng(tmp_path / "previewed.dng", picture("red", "circle"),
                    preview=picture("red", "circle"))
    cut_preview = tmp_path / "cut-preview.dng"
    cut_preview.write_bytes(previewed.read_bytes()[:3000])
    noise = tmp_path / "noise.dng"
    noise.write_bytes(np.random.default_rng(0).bytes(5000))
    empty = tmp_path / "empty.nef"
    empty.write_bytes(b"")
    for path, words in ((cut, "truncated"), (cut_preview, "truncated"),
                        (noise, "not a RAW file"), (empty, "empty")):
        with pytest.raises(Unreadable) as err:
            load(path)
        assert words in str(err.value) and "\n" not in str(err.value), str(err.value)


def test_a_file_cut_after_its_preview_is_shown_by_the_preview(tmp_path: Path) -> None:
    """Cameras write the preview before the mosaic: a file cut short in the mosaic still
    has its whole preview, and is shown by it (as viewers do)."""
    shown = picture("orange", "circle", seed=7)
    whole = dng(tmp_path / "whole.dng", shown, preview=shown)
    cut = tmp_path / "cut.dng"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    assert like(load(cut), shown) > 0.9
    with pytest.raises(Unreadable, match="truncated"):  # the mosaic is wanted: cut short
        load(cut, min_side=400)
