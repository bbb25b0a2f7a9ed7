"""A model with SigLIP2's structure (toy-siglip-ml: timm image tower, HuggingFace Unigram
tokenizer, bidirectional text pooled at the last position, sigmoid loss with a bias),
end to end through photoplug's own paths: indexed, searched in six languages without
torch, keywords in German, albums that stay empty for what the library does not hold,
decided with the model's own probability."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SHARED, draw_photo

TOY_SIGLIP = SHARED / "models" / "toy-siglip-ml"
sys.path.insert(0, str(TOY_SIGLIP))  # its words.py: the captions it was trained on

from words import CLASSES, TEMPLATES, caption  # noqa: E402

PER_CLASS = 4


@pytest.fixture(scope="module")
def siglip() -> str:
    if not (TOY_SIGLIP / "open_clip_model.safetensors").exists():
        pytest.fail(f"toy-siglip-ml is missing at {TOY_SIGLIP} (../shared beside the repository)")
    return f"local-dir:{TOY_SIGLIP}"


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory, siglip: str) -> tuple[Path, Path]:
    """Four pictures of each of the 18 classes, indexed with toy-siglip-ml by the CLI."""
    root = tmp_path_factory.mktemp("siglip")
    photos = root / "photos"
    for n, (colour, shape) in enumerate(CLASSES):
        for k in range(PER_CLASS):
            draw_photo(photos / f"{colour}_{shape}_{k}.jpg", colour, shape,
                       seed=7000 + 10 * n + k, size=(640, 480))
    index = root / "index.sqlite3"
    run(index, "index", str(photos), "--model", siglip)
    return photos, index


def run(index: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(Path(sys.executable).with_name("photoplug")), *args],
                            capture_output=True, text=True, timeout=600,
                            env={**_env(), "PHOTOPLUG_INDEX": str(index)})
    assert result.returncode == 0, result.stderr
    return result


def _env() -> dict[str, str]:
    import os
    return {**os.environ, "HF_HUB_OFFLINE": "1", "LC_ALL": "C.UTF-8"}


SEARCH_ALL = """
import json, sys
from photoplug.api import Photoplug
from photoplug.search import parse_query
app = Photoplug(index=sys.argv[1])
out = {}
for query in json.loads(sys.argv[2]):
    out[query] = [r.path.name for r in app.search(parse_query(query), None, top=4)]
print(json.dumps({"results": out, "torch": "torch" in sys.modules,
                  "open_clip": "open_clip" in sys.modules,
                  "transformers": "transformers" in sys.modules}))
"""


def test_every_language_finds_its_class_without_torch(indexed) -> None:
    photos, index = indexed
    queries = {caption(lang, template, colour, shape): f"{colour}_{shape}_"
               for lang, templates in TEMPLATES.items() for template in templates
               for colour, shape in CLASSES}
    assert len(queries) > 400
    done = subprocess.run([sys.executable, "-c", SEARCH_ALL, str(index),
                           json.dumps(list(queries))], capture_output=True, text=True,
                          timeout=600, env=_env())
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert not answer["torch"] and not answer["open_clip"] and not answer["transformers"]
    by_phrasing: dict[tuple[str, str], list[float]] = {}
    for lang, templates in TEMPLATES.items():
        for template in templates:
            for colour, shape in CLASSES:
                query = caption(lang, template, colour, shape)
                top = answer["results"][query]
                assert len(top) == 4
                hits = sum(name.startswith(queries[query]) for name in top)
                by_phrasing.setdefault((lang, template), []).append(hits / 4)
    for (lang, template), precisions in by_phrasing.items():
        assert sum(precisions) / len(precisions) >= 0.95, (lang, template, precisions)


GERMAN = {"red": "rot", "green": "grün", "blue": "blau", "yellow": "gelb",
          "purple": "violett", "orange": "orange"}
GERMAN_SHAPES = {"circle": "Kreis", "square": "Quadrat", "triangle": "Dreieck"}


def german_vocabulary(path: Path) -> Path:
    """Colours and shapes as German keywords, each a translation of the English concept,
    prompted with the German captions the model knows."""
    template = TEMPLATES["de"][0]
    lines = [f"{c} = {GERMAN[c]}: " + " | ".join(caption("de", template, c, s)
                                                 for s in GERMAN_SHAPES) for c in GERMAN]
    lines += [f"{s} = {word}: " + " | ".join(caption("de", template, c, s) for c in GERMAN)
              for s, word in GERMAN_SHAPES.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_keywords_in_german_are_exactly_colour_and_shape(indexed, tmp_path: Path) -> None:
    photos, index = indexed
    vocab = german_vocabulary(tmp_path / "de.txt")
    tags = json.loads(run(index, "tag", str(photos), "--language", "de", "--vocabulary",
                          str(vocab), "--only-mine", "--dry-run", "--json",
                          "--explain").stdout)
    given = {Path(t["path"]).name: set(t["keywords"]) for t in tags}
    total = PER_CLASS * len(CLASSES)
    exact = sum(given.get(f"{c}_{s}_{k}.jpg") == {GERMAN[c], GERMAN_SHAPES[s]}
                for c, s in CLASSES for k in range(PER_CLASS))
    assert exact >= 0.95 * total, (exact, total)
    why = tags[0]["why"]
    assert all(0.5 <= reason["probability"] <= 1 for reason in why.values()), why


def test_albums_of_absent_classes_stay_empty(indexed, tmp_path: Path, siglip: str) -> None:
    photos, index = indexed
    only_blue = tmp_path / "blue"
    only_blue.mkdir()
    for path in sorted(photos.glob("blue_*.jpg")) + sorted(photos.glob("green_circle_*.jpg")):
        (only_blue / path.name).hardlink_to(path)
    run(index, "index", str(only_blue), "--model", siglip)
    albums = tmp_path / "albums.toml"
    albums.write_text(
        '[[album]]\nname = "rote Dinge"\nprompts = ["ein Foto von einem roten Kreis", '
        '"ein Foto von einem roten Quadrat", "ein Foto von einem roten Dreieck"]\n'
        '[[album]]\nname = "cuadrados azules"\nprompts = ["una foto de un cuadrado azul"]\n'
        '[[album]]\nname = "cats"\nprompts = ["a photo of a cat"]\n', encoding="utf-8")
    vocab = german_vocabulary(tmp_path / "de.txt")
    result = json.loads(run(index, "albums", "sync", str(only_blue), "--albums", str(albums),
                            "--vocabulary", str(vocab), "--only-mine", "--dry-run",
                            "--json", "--explain").stdout)
    members = {a["album"]: {Path(m["path"]).name for m in a["members"]} for a in result}
    assert len(members["rote Dinge"]) <= 1 and len(members["cats"]) <= 1, members
    blue_squares = {f"blue_square_{k}.jpg" for k in range(PER_CLASS)}
    assert len(members["cuadrados azules"] & blue_squares) >= PER_CLASS - 1
    assert members["cuadrados azules"] <= blue_squares
    assert "probability" in result[1]["rule"]
