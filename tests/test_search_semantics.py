"""Search semantics end to end with toy-clip: a real CLIP that knows coloured shapes."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import Cli


def names(results: list[dict]) -> list[str]:
    return [Path(r["path"]).stem.rsplit("_", 1)[0] for r in results]


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory, toy_model: str, shapes: Path) -> Cli:
    cli = Cli(tmp_path_factory.mktemp("index") / "index.sqlite3", toy_model)
    cli("index", str(shapes))
    return cli


def test_text_query_finds_red_circles_first(indexed: Cli, shapes: Path) -> None:
    results = indexed.json("search", "a photo of a red circle", str(shapes), "--top", "4",
                           model=False)
    assert names(results)[:2] == ["red_circle", "red_circle"]
    assert [r["rank"] for r in results] == [1, 2, 3, 4]
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    first = results[0]
    assert set(first) == {"rank", "path", "score", "id", "location", "host_ref", "match",
                          "margin_nats"}
    assert first["match"] in ("good", "weak") and isinstance(first["margin_nats"], float)
    assert Path(first["path"]).is_absolute() and Path(first["path"]).exists()
    assert first["location"] == f"folder:{shapes}"
    assert first["id"] == Path(first["path"]).name


def test_every_class_ranks_its_own_photos_first(indexed: Cli, shapes: Path) -> None:
    for colour, shape in [("green", "triangle"), ("yellow", "square"), ("purple", "circle")]:
        results = indexed.json("search", f"a photo of a {colour} {shape}", str(shapes),
                               "--top", "2", model=False)
        assert names(results) == [f"{colour}_{shape}"] * 2


def test_image_query_finds_blue_squares(indexed: Cli, shapes: Path, tmp_path: Path) -> None:
    from conftest import draw_photo
    query = draw_photo(tmp_path / "query.png", "blue", "square", seed=999, size=(800, 600))
    results = indexed.json("search", str(query), str(shapes), "--top", "2", model=False)
    assert names(results) == ["blue_square", "blue_square"]


def test_add_and_subtract_move_results(indexed: Cli, shapes: Path) -> None:
    base = names(indexed.json("search", "a photo of a red circle", str(shapes), "--top", "2",
                              model=False))
    assert base == ["red_circle"] * 2
    # rclip grammar: "- Q" moves results away from Q, "+ Q" towards it
    moved = indexed.json("search", "a photo of a red circle", str(shapes), "-",
                         "a photo of a red circle", "+", "a photo of a green square",
                         "--top", "2", model=False)
    assert names(moved) == ["green_square"] * 2
    weighted = indexed.json("search", "a photo of a red circle", str(shapes),
                            "--add", "3:a photo of a blue triangle", "--top", "2", model=False)
    assert names(weighted) == ["blue_triangle"] * 2


def test_paths_output_is_absolute_one_per_line(indexed: Cli, shapes: Path) -> None:
    out = indexed("search", "a photo of an orange square", str(shapes), "--paths",
                  "--top", "3", model=False).stdout.splitlines()
    assert len(out) == 3 and all(Path(p).is_absolute() and Path(p).exists() for p in out)
    assert "orange_square" in Path(out[0]).name


def test_search_without_location_searches_everything_indexed(indexed: Cli) -> None:
    results = indexed.json("search", "a photo of a yellow circle", model=False)
    assert names(results)[0] == "yellow_circle"
    assert len(results) == 10  # --top defaults to 10
