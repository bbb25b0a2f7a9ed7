"""photoplug's stored embeddings match open_clip's own preprocess + encode_image."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch
from PIL import Image, ImageOps

from conftest import draw_photo
from photoplug.api import Photoplug


def reference_embedding(model_name: str, path: Path) -> np.ndarray:
    """What a user's own open_clip code computes: full decode, preprocess, encode_image."""
    model, _, preprocess = open_clip.create_model_and_transforms(model_name)
    model.eval()
    with Image.open(path) as im:
        upright = ImageOps.exif_transpose(im)
    with torch.inference_mode():
        vec = model.encode_image(preprocess(upright).unsqueeze(0))[0].numpy()
    return vec / np.linalg.norm(vec)


@pytest.mark.parametrize("model_fixture", ["toy_model", "tiny_model"])
def test_index_embeddings_match_open_clip(model_fixture: str, request: pytest.FixtureRequest,
                                          tmp_path: Path) -> None:
    model_name = request.getfixturevalue(model_fixture)
    photos = tmp_path / "photos"
    draw_photo(photos / "big.jpg", "red", "circle", seed=1, size=(4000, 3000))
    draw_photo(photos / "wide.jpg", "blue", "triangle", seed=2, size=(1600, 900))
    draw_photo(photos / "small.png", "green", "square", seed=3, size=(300, 200))
    rotated = draw_photo(photos / "rotated.jpg", "orange", "triangle", seed=4,
                         size=(1600, 1200))
    with Image.open(rotated) as im:  # EXIF orientation 6: the camera was held sideways
        exif = im.getexif()
        exif[0x0112] = 6
        im.save(rotated, quality=90, exif=exif)

    app = Photoplug(index=tmp_path / "index.sqlite3", model=model_name, device="cpu")
    library = app.open(str(photos))
    report = app.index(library)
    assert report.encoded == 4 and not report.skipped
    ident = app.engine(app.requested).identity
    model_id = app.store.find_model_id(ident.name, ident.pretrained, ident.weights_hash)
    matrix, rows = app.store.matrix([app.store.location_id(library.uri)], model_id)
    for vector, (path, *_rest) in zip(matrix, rows):
        cosine = float(vector @ reference_embedding(model_name, Path(path)))
        assert cosine >= 0.99, f"{path}: cosine {cosine:.4f} against open_clip's own"
