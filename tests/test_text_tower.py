"""The torch-free text path: tokenizer ids and text embeddings equal open_clip's own."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch

from conftest import Cli, TOY_CLIP, draw_photo
from photoplug.model.clip_tokenizer import ClipTokenizer, open_clip_vocabulary
from photoplug.model.text_tower import TextTower

VOCABULARY = Path(__file__).resolve().parents[1] / "plugin" / "albums" / "vocabulary.txt"
TEXTS = [line.split(":")[-1].strip() for line in VOCABULARY.read_text().splitlines()
         if line.strip() and not line.startswith("#")] + [
    "a dog on the beach", "Café été 写真 🏖️", "it's a DOG's life, isn't it?",
    "&amp;lt; html &quot;", "  spaces\n\tand\ttabs  ", "<start_of_text>x<end_of_text>",
    "x" * 300, "word " * 100, "", "12345 3.14", "naïve résumé", "\x00\x01 ctrl", "ﬁ Ⅻ"]


def test_tokenizer_gives_open_clips_ids() -> None:
    ours = ClipTokenizer(open_clip_vocabulary())(TEXTS)
    theirs = open_clip.get_tokenizer("ViT-B-32")(TEXTS).numpy()
    assert np.array_equal(ours, theirs)


@pytest.mark.parametrize("name", ["ViT-B-32", "ViT-B-32-quickgelu", "toy", "tiny"])
def test_text_tower_matches_encode_text(name: str, tiny_model: str) -> None:
    model_name = {"toy": f"local-dir:{TOY_CLIP}", "tiny": tiny_model}.get(name, name)
    torch.manual_seed(0)
    model = open_clip.create_model(model_name).eval()  # random weights for the named ones
    tokenizer = open_clip.get_tokenizer(model_name)
    tower = TextTower.from_model(model, tokenizer)
    assert tower is not None
    texts = TEXTS if name in ("toy", "tiny") else TEXTS[::12] + TEXTS[-13:]  # big: fewer
    with torch.inference_mode():
        theirs = model.encode_text(tokenizer(texts)).numpy()
    theirs /= np.linalg.norm(theirs, axis=1, keepdims=True)
    cosines = (tower.encode(texts) * theirs).sum(axis=1)
    assert cosines.min() > 0.99999, (name, cosines.min())


def test_a_tower_it_cannot_copy_exactly_is_refused(tiny_model: str) -> None:
    model = open_clip.create_model(tiny_model).eval()
    model.text_pool_type = "mean"  # a pooling the numpy tower does not compute
    assert TextTower.from_model(model, open_clip.get_tokenizer(tiny_model)) is None


def without_torch(cli: Cli, *args: str) -> tuple[str, bool]:
    """Run the CLI in a fresh interpreter: its stdout, and whether it imported torch."""
    probe = ("import sys, json; from photoplug.cli import main\n"
             "try:\n    main()\nexcept SystemExit:\n    pass\n"
             "print(json.dumps('torch' in sys.modules), file=sys.stderr)")
    run = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True,
                         text=True, env=cli.env, check=True)
    return run.stdout, json.loads(run.stderr.strip().splitlines()[-1])


def test_search_and_an_idle_reindex_run_without_torch(toy_cli: Cli, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    for n, (colour, shape) in enumerate([("red", "circle"), ("blue", "square"),
                                         ("green", "triangle")]):
        draw_photo(photos / f"{colour}_{shape}.jpg", colour, shape, seed=n, size=(320, 240))
    toy_cli("index", str(photos))
    out, imported = without_torch(toy_cli, "search", "a red circle", "--json", "--top", "1")
    assert json.loads(out)[0]["path"].endswith("red_circle.jpg") and not imported
    out, imported = without_torch(toy_cli, "index", str(photos), "--json")
    assert json.loads(out)["unchanged"] == 3 and not imported  # nothing new: no model
    draw_photo(photos / "yellow_circle.jpg", "yellow", "circle", seed=9, size=(320, 240))
    out, _ = without_torch(toy_cli, "index", str(photos), "--json")
    assert json.loads(out)["encoded"] == 1  # with or without torch: test_image_backends
    by_image = toy_cli.json("search", str(photos / "blue_square.jpg"), "--top", "1",
                            model=False)  # an image query loads the full model
    assert by_image[0]["path"].endswith("blue_square.jpg")


def test_a_saved_siglip_tower_tokenizes_from_its_compact_form(tmp_path: Path) -> None:
    """A HuggingFace tokenizer saved with the tower gets its compact form; the loaded
    tower's ids are open_clip's, a batch or one text at a time (as a query)."""
    from conftest import SHARED
    from photoplug.model.compact_tokenizer import FOLDER
    name = f"local-dir:{SHARED / 'models' / 'toy-siglip-ml'}"
    model = open_clip.create_model(name).eval()
    tokenizer = open_clip.get_tokenizer(name)
    tower = TextTower.from_model(model, tokenizer)
    assert tower is not None
    tower.save(tmp_path / "tower")
    assert (tmp_path / "tower" / FOLDER).is_dir()
    loaded = TextTower.load(tmp_path / "tower")
    assert loaded is not None and loaded.tokenizer.compact is not None
    theirs = tokenizer(TEXTS).numpy()
    assert np.array_equal(loaded.tokenizer(TEXTS), theirs)
    assert all(np.array_equal(loaded.tokenizer([t])[0], row) for t, row in zip(TEXTS, theirs))
    with torch.inference_mode():
        expected = model.encode_text(tokenizer(TEXTS[-13:])).numpy()
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert (loaded.encode(TEXTS[-13:]) * expected).sum(axis=1).min() > 0.9999
