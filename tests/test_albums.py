"""Smart albums and auto-tags: definitions, calibration with toy-clip, write paths."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import CLASSES, Cli, draw_photo
from photoplug.albums.definitions import STARTER, load_albums, write_starter
from photoplug.errors import PhotoplugError

TOY_ALBUMS = """
[[album]]
name = "red things"
prompts = ["a photo of a red circle", "a photo of a red square", "a photo of a red triangle"]
threshold = "auto"
[[album]]
name = "circles"
prompts = ["a photo of a red circle", "a photo of a green circle", "a photo of a blue circle",
           "a photo of a yellow circle", "a photo of a purple circle", "a photo of a orange circle"]
threshold = "auto"
"""
COLOURS = ["red", "green", "blue", "yellow", "purple", "orange"]
SHAPES = ["circle", "square", "triangle"]


def toy_vocabulary() -> str:
    lines = [f"{c}: " + " | ".join(f"a photo of a {c} {s}" for s in SHAPES) for c in COLOURS]
    lines += [f"{s}: " + " | ".join(f"a photo of a {c} {s}" for c in COLOURS) for s in SHAPES]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory, toy_model: str) -> tuple[Cli, Path]:
    """4 pictures of each of toy-clip's 18 classes at 1600x1200, indexed."""
    folder = tmp_path_factory.mktemp("mixed")
    for n, (colour, shape) in enumerate(CLASSES):
        for k in range(4):
            draw_photo(folder / f"{colour}_{shape}_{k}.jpg", colour, shape,
                       seed=1000 + 10 * n + k)
    cli = Cli(tmp_path_factory.mktemp("index") / "index.sqlite3", toy_model)
    cli("index", str(folder))
    return cli, folder


def precision_recall(members: set[str], truth: set[str]) -> tuple[float, float]:
    hits = len(members & truth)
    return hits / max(len(members), 1), hits / len(truth)


def test_albums_sync_with_a_vocabulary(mixed, tmp_path: Path) -> None:
    """The CLI as a user runs it: albums, the vocabulary of what the photos may show,
    --explain in --json; a dry run writes nothing."""
    cli, folder = mixed
    albums = tmp_path / "albums.toml"
    albums.write_text(TOY_ALBUMS + '[[album]]\nname = "cats"\nprompts = ["a photo of a cat"]\n')
    vocabulary = tmp_path / "toy.txt"
    vocabulary.write_text(toy_vocabulary())
    out = cli.json("albums", "sync", str(folder), "--albums", str(albums), "--vocabulary",
                   str(vocabulary), "--only-mine", "--explain", "--dry-run", model=False)
    got = {a["album"]: {m["id"] for m in a["members"]} for a in out}
    names = {p.name for p in folder.glob("*.jpg")}
    truth = {"red things": {n for n in names if n.startswith("red_")},
             "circles": {n for n in names if "_circle_" in n}}
    for album, expected in truth.items():
        precision, recall = precision_recall(got[album], expected)
        assert precision >= 0.9 and recall >= 0.9, (album, precision, recall)
    assert len(got["cats"]) <= 1
    red = next(a for a in out if a["album"] == "red things")
    assert "nats" in red["rule"] and red["kept_out"] == []
    for member in red["members"]:
        assert member["won_by"].startswith("a photo of a red ") and member["how"] == "prompt"
        assert member["score"] >= member["rival_score"] - 0.05 and "margin_nats" in member
    assert not (folder / ".photoplug").exists(), "a dry run wrote"


def test_auto_tags_give_each_picture_its_colour_and_shape(mixed, tmp_path: Path) -> None:
    cli, folder = mixed
    vocabulary = tmp_path / "toy.txt"
    vocabulary.write_text(toy_vocabulary())
    out = cli.json("tag", str(folder), "--vocabulary", str(vocabulary), "--only-mine",
                   "--dry-run", model=False)
    tags = {item["id"]: set(item["keywords"]) for item in out}
    wrong = {name: tags.get(name) for name in (p.name for p in folder.glob("*.jpg"))
             if tags.get(name) != set(name.split("_")[:2])}
    assert len(wrong) <= 2, wrong  # 72 pictures; at most 2 imperfect


def test_negatives_examples_and_fixed_thresholds(mixed, tmp_path: Path) -> None:
    cli, folder = mixed
    example = draw_photo(tmp_path / "ex" / "blue.png", "blue", "square", seed=7,
                         size=(800, 600))
    albums = tmp_path / "albums.toml"
    albums.write_text(f"""
[[album]]
name = "circles, not red"
prompts = {json.dumps([f"a photo of a {c} circle" for c in COLOURS])}
negative = ["a photo of a red circle"]
[[album]]
name = "like my blue square"
examples = ["ex/blue.png"]
[[album]]
name = "nothing clears this"
prompts = ["a photo of a red circle"]
threshold = 0.999
""")
    vocabulary = tmp_path / "toy.txt"
    vocabulary.write_text(toy_vocabulary())
    assert example.exists()
    out = {a["album"]: {m["id"] for m in a["members"]} for a in cli.json(
        "albums", "sync", str(folder), "--albums", str(albums), "--vocabulary",
        str(vocabulary), "--only-mine", "--dry-run", model=False)}
    not_red = out["circles, not red"]
    assert not_red and not any(n.startswith("red_") for n in not_red)
    assert precision_recall(not_red, {n.name for n in folder.glob("*_circle_*")
                                      if not n.name.startswith("red_")}) >= (0.9, 0.9)
    assert out["like my blue square"] and all(n.startswith("blue_square")
                                              for n in out["like my blue square"])
    assert out["nothing clears this"] == set()


def test_sync_writes_updates_and_is_idempotent(toy_cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    for n, (colour, shape) in enumerate(CLASSES):
        for k in range(2):
            draw_photo(folder / f"{colour}_{shape}_{k}.jpg", colour, shape, seed=50 * n + k,
                       size=(400, 300))
    albums = tmp_path / "albums.toml"
    albums.write_text(TOY_ALBUMS)
    toy_cli("albums", "sync", str(folder), "--albums", str(albums))
    red = folder / ".photoplug" / "albums" / "red things"
    assert sorted(p.name for p in red.iterdir()) == sorted(
        p.name for p in folder.glob("red_*.jpg"))
    again = toy_cli("albums", "sync", str(folder), "--albums", str(albums), model=False)
    assert "nothing to change" in again.stderr
    albums.write_text(TOY_ALBUMS.replace('"a photo of a red square", ', "")
                      .replace('"a photo of a red triangle"', '"a photo of a red circle"'))
    toy_cli("albums", "sync", str(folder), "--albums", str(albums), model=False)
    assert sorted(p.name for p in red.iterdir()) == ["red_circle_0.jpg", "red_circle_1.jpg"]
    toy_cli("undo", str(folder), model=False)
    assert not (folder / ".photoplug").exists()


def test_prompt_embeddings_are_cached(toy_model: str, tmp_path: Path) -> None:
    from photoplug.api import Photoplug
    draw_photo(tmp_path / "p" / "a.jpg", "red", "circle", seed=1, size=(200, 150))
    app = Photoplug(index=tmp_path / "i.sqlite3", model=toy_model, device="cpu")
    engine = app.engine(app.requested)
    calls = []
    real = engine.encode_texts
    engine.encode_texts = lambda texts: (calls.append(list(texts)), real(texts))[1]
    first = app.text_vectors(engine, ["a photo of a red circle", "a photo of a cat"])
    again = app.text_vectors(engine, ["a photo of a cat", "a photo of a red circle"])
    assert calls == [["a photo of a red circle", "a photo of a cat"]]
    assert (first[0] == again[1]).all()


def test_album_files(tmp_path: Path) -> None:
    starter = tmp_path / "albums.toml"
    write_starter(starter)
    loaded = load_albums(starter)
    assert len(loaded) == len(STARTER) >= 20
    assert {"beach selfies", "sunsets", "food", "pets", "documents and receipts",
            "screenshots", "snow", "mountains", "concerts"} <= {a.name for a in loaded}
    with pytest.raises(PhotoplugError, match="exists"):
        write_starter(starter)
    cases = {
        '[[album]]\nname = "a"\nprompts = ["x"]\nthreshold = oops\n': "line 4",
        '[[album]]\nname = "a"\nprompts = ["x"]\n\n[[album]]\nname = "b"\nprompt = ["y"]\n':
            "line 7: key 'prompt': unknown key",
        '[[album]]\nname = "a"\nprompts = ["x"]\nthreshold = "high"\n':
            "line 4: key 'threshold'",
        '[[album]]\nname = "a"\nprompts = [1]\n': "line 3: key 'prompts'",
        '[[album]]\nprompts = ["x"]\n': "line 1: every album needs a name",
        '[[album]]\nname = "a"\nexamples = ["missing.jpg"]\n': "no such image",
    }
    for text, message in cases.items():
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        with pytest.raises(PhotoplugError, match=message.replace("(", r"\(")):
            load_albums(bad)
