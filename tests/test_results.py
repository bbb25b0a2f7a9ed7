"""Results a person expects (toy-clip): good matches told from weak ones by the rule that
fills albums, the good ones by capture date on request, and a burst shown once."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from conftest import Cli, draw

COLOURS = ["red", "green", "blue", "yellow", "purple", "orange"]
SHAPES = ["circle", "square", "triangle"]
PRESENT = ["green", "blue", "yellow"]  # the library holds these colours, every shape
PER_CLASS = 5


def toy_vocabulary(path: Path) -> Path:
    """What the pictures may show, in the words toy-clip knows."""
    lines = [f"{c}: " + " | ".join(f"a photo of a {c} {s}" for s in SHAPES) for c in COLOURS]
    lines += [f"{s}: " + " | ".join(f"a photo of a {c} {s}" for c in COLOURS) for s in SHAPES]
    path.write_text("\n".join(lines) + "\n")
    return path


def save_jpeg(image: Image.Image, path: Path, taken: str | None = None,
              quality: int = 90) -> Path:
    exif = Image.Exif()
    if taken:
        exif.get_ifd(0x8769)[0x9003] = taken  # DateTimeOriginal
    image.save(path, "JPEG", quality=quality, exif=exif.tobytes())
    return path


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory, toy_model: str) -> tuple[Path, Cli]:
    root = tmp_path_factory.mktemp("results")
    photos = root / "photos"
    photos.mkdir()
    rng = np.random.default_rng(11)
    for n, (colour, shape) in enumerate((c, s) for c in PRESENT for s in SHAPES):
        for k in range(PER_CLASS):
            taken = f"20{10 + k}:0{1 + n % 9}:15 12:00:00"
            save_jpeg(draw(colour, shape, (640, 480), rng), photos / f"{colour}_{shape}_{k}.jpg",
                      taken)
    cli = Cli(root / "index.sqlite3", toy_model)
    cli("index", str(photos))
    return photos, cli


def search(cli: Cli, photos: Path, query: str, *args: str) -> list[dict]:
    vocab = toy_vocabulary(photos.parent / "toy.txt")
    return cli.json("search", query, str(photos), "--top", "45", "--vocabulary", str(vocab),
                    "--only-mine", *args, model=False)


def test_good_matches_are_the_class_and_absent_classes_have_none(library) -> None:
    from photoplug.albums.vocabulary import load_vocabulary
    from photoplug.api import Photoplug
    from photoplug.results.present import present
    from photoplug.search import parse_query
    photos, cli = library
    app = Photoplug(index=cli.index)
    concepts = load_vocabulary(toy_vocabulary(photos.parent / "toy.txt"))
    for colour in COLOURS:
        for shape in SHAPES:
            query = parse_query(f"a photo of a {colour} {shape}")
            results = present(app, query, app.search(query, None, 45), concepts, fold=False)
            matches = [r.match for r in results]
            assert set(matches) <= {"good", "weak"}
            assert matches == sorted(matches, key=lambda m: m != "good"), "good ones first"
            good = [r.path.name for r in results if r.match == "good"]
            if colour not in PRESENT:
                assert len(good) <= 1, (colour, shape, good)
                continue
            mine = [g for g in good if g.startswith(f"{colour}_{shape}_")]
            assert len(mine) >= 0.95 * PER_CLASS, (colour, shape, good)
            assert len(mine) >= 0.95 * len(good), (colour, shape, good)
            assert all(r.margin >= -0.25 for r in results if r.match == "good")


def test_a_cat_is_never_a_good_match_and_the_table_says_so(library) -> None:
    photos, cli = library
    vocab = toy_vocabulary(photos.parent / "toy.txt")
    shown = cli("search", "a photo of a cat", str(photos), "--top", "5", "--vocabulary",
                str(vocab), "--only-mine", model=False).stdout.splitlines()
    assert "no good match" in shown[0]
    assert cli.json("search", "a photo of a cat", str(photos), "--vocabulary", str(vocab),
                    "--only-mine", "--good-only", model=False) == []


def test_good_matches_newest_first_on_request(library) -> None:
    photos, cli = library
    newest = search(cli, photos, "a photo of a blue square", "--sort", "date", "--good-only")
    assert len(newest) >= PER_CLASS - 1
    dates = [r["taken"] for r in newest]
    assert dates == sorted(dates, reverse=True) and dates[0].startswith("201")
    oldest = search(cli, photos, "a photo of a blue square", "--sort", "date-asc", "--good-only")
    assert [r["taken"] for r in oldest] == sorted(dates)


def test_a_burst_is_shown_once(toy_cli: Cli, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(5)
    shot = draw("red", "circle", (800, 600), rng)
    save_jpeg(shot, photos / "shot.jpg")
    save_jpeg(shot, photos / "shot-q60.jpg", quality=60)
    save_jpeg(shot.resize((400, 300)), photos / "shot-half.jpg")
    save_jpeg(ImageEnhance.Brightness(shot).enhance(1.41), photos / "shot-brighter.jpg")
    save_jpeg(shot.crop((8, 6, 800, 600)), photos / "shot-cropped.jpg")
    for k in range(3):  # other red circles, drawn elsewhere on their pictures
        save_jpeg(draw("red", "circle", (800, 600), rng), photos / f"other_{k}.jpg")
    toy_cli("index", str(photos))
    vocab = toy_vocabulary(tmp_path / "toy.txt")
    folded = toy_cli.json("search", "a photo of a red circle", str(photos), "--vocabulary",
                          str(vocab), "--only-mine")
    names = [Path(r["path"]).name for r in folded]
    assert len(names) == 4 and {f"other_{k}.jpg" for k in range(3)} <= set(names), names
    burst = next(r for r in folded if r["path"].startswith(str(photos / "shot")))
    assert len(burst["similar"]) == 4, burst
    every = toy_cli.json("search", "a photo of a red circle", str(photos), "--vocabulary",
                         str(vocab), "--only-mine", "--all-frames")
    assert len(every) == 8 and not any("similar" in r for r in every)
    table = toy_cli("search", "a photo of a red circle", str(photos), "--vocabulary",
                    str(vocab), "--only-mine").stdout
    assert "(+4 similar)" in table
