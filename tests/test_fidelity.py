"""photoplug's stored embeddings match open_clip's own preprocess + encode_image, through
torch and through every exact runtime, on photos of every shape and kind."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch
from open_clip.transform import PreprocessCfg, image_transform_v2
from PIL import Image, ImageOps

from conftest import draw_photo
from photoplug.api import Photoplug
from photoplug.model.image_runtimes import EXACT, installed
from photoplug.model.preprocess import Preprocess

BACKENDS = ["torch", *(pytest.param(r, marks=pytest.mark.skipif(
    not installed(r), reason=f"{r} is not installed")) for r in EXACT)]


@pytest.mark.parametrize("cfg", [
    {"size": 224}, {"size": 256, "interpolation": "bilinear"}, {"size": (224, 160)},
    {"size": (160, 224)}, {"size": 224, "resize_mode": "longest", "fill_color": 128},
    {"size": (200, 240), "resize_mode": "longest"}, {"size": 224, "resize_mode": "squash"}])
def test_preprocess_gives_open_clips_pixels(cfg: dict) -> None:
    full = {**PreprocessCfg().__dict__, **cfg}
    theirs = image_transform_v2(PreprocessCfg(**full), is_train=False)
    ours = Preprocess.from_config(full)
    rng = np.random.default_rng(0)
    for size in [(500, 375), (375, 500), (224, 224), (100, 50), (1000, 223), (33, 700)]:
        image = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), np.uint8))
        np.testing.assert_allclose(ours(image), theirs(image).numpy(), atol=1e-6)


def photo_kinds(folder: Path) -> dict[str, Image.Image]:
    """Photos of many sizes, shapes and pixel formats; name -> the image as open_clip's
    users read it (full decode, upright, 8-bit)."""
    draw_photo(folder / "big.jpg", "red", "circle", seed=1, size=(4000, 3000))
    draw_photo(folder / "wide.jpg", "blue", "triangle", seed=2, size=(1600, 900))
    draw_photo(folder / "tall.jpg", "yellow", "square", seed=3, size=(900, 1600))
    draw_photo(folder / "small.png", "green", "square", seed=4, size=(300, 200))
    draw_photo(folder / "tiny.jpg", "purple", "circle", seed=5, size=(48, 40))
    draw_photo(folder / "odd.jpg", "green", "triangle", seed=7, size=(2011, 1503))
    for orientation in range(2, 9):  # sizes that are no multiple of 8: partial JPEG blocks
        path = draw_photo(folder / f"orientation-{orientation}.jpg", "orange", "triangle",
                          seed=orientation, size=(1605, 1203))
        with Image.open(path) as im:  # EXIF orientation: the camera was held sideways
            exif = im.getexif()
            exif[0x0112] = orientation
            im.save(path, quality=90, exif=exif)
    drawn = draw_photo(folder / "source.png", "blue", "circle", seed=6, size=(1200, 900))
    with Image.open(drawn) as im:
        grey = im.convert("L")
        grey.save(folder / "grey.jpg", quality=90)
        im.convert("CMYK").save(folder / "cmyk.jpg", quality=90)
        Image.fromarray(np.asarray(grey).astype(np.uint16) * 257).save(
            folder / "grey16.png")
    drawn.unlink()
    kinds = {}
    for path in sorted(folder.iterdir()):
        with Image.open(path) as im:
            kinds[path.name] = ImageOps.exif_transpose(im)
    kinds["grey16.png"] = grey  # open_clip would clip its 16-bit values; what they mean
    return kinds


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Image.Image]]:
    folder = tmp_path_factory.mktemp("kinds")
    return folder, photo_kinds(folder)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("model_fixture", ["toy_model", "tiny_model"])
def test_index_embeddings_match_open_clip(model_fixture: str, backend: str,
                                          request: pytest.FixtureRequest, tmp_path: Path,
                                          photos: tuple[Path, dict[str, Image.Image]]) -> None:
    model_name = request.getfixturevalue(model_fixture)
    folder, kinds = photos
    first = Photoplug(index=tmp_path / "first.sqlite3", model=model_name, device="cpu",
                      backend=backend)
    first.engine(first.requested)  # exports the image tower (but for torch): the index
    app = Photoplug(index=tmp_path / "index.sqlite3", model=model_name, device="cpu",
                    backend=backend)  # below then encodes without torch
    library = app.open(str(folder))
    engine = app.index_engine(library.uri)
    assert engine.image_backend == backend
    report = app.index(library)
    assert report.encoded == len(kinds) and not report.skipped

    model, _, preprocess = open_clip.create_model_and_transforms(model_name)
    model.eval()
    ident = engine.identity
    model_id = app.store.find_model_id(ident.name, ident.pretrained, ident.weights_hash)
    matrix, rows = app.store.matrix([app.store.location_id(library.uri)], model_id)
    for vector, (path, *_rest) in zip(matrix, rows):
        with torch.inference_mode():
            expected = model.encode_image(preprocess(kinds[Path(path).name])[None])[0].numpy()
        cosine = float(vector @ expected / np.linalg.norm(expected))
        assert cosine >= 0.9999, f"{Path(path).name}: cosine {cosine:.6f} against open_clip's"
