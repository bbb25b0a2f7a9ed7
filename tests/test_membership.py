"""Albums and tags that know when a concept is absent (toy-clip, libraries holding only
some of its 18 classes), and the rules around the competition: ties, negatives,
examples, names that stand for a concept, the user's corrections as examples."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from conftest import CLASSES, draw_photo
from photoplug.albums.definitions import AlbumDef
from photoplug.albums.membership import AlbumCorrections, albums_members, auto_tags
from photoplug.albums.vocabulary import BUILTIN_VOCABULARY, Concept, load_vocabulary
from photoplug.albums.zero_shot import Pool

COLOURS = ["red", "green", "blue", "yellow", "purple", "orange"]
SHAPES = ["circle", "square", "triangle"]
LIBRARIES = {
    "all 18 classes": lambda c, s: True,
    "half the colours missing": lambda c, s: c in ("green", "blue", "yellow"),
    "one shape missing": lambda c, s: s != "triangle",
    "a single class": lambda c, s: (c, s) == ("blue", "square"),
    "no red": lambda c, s: c != "red",
}
TOY = ([Concept(c, tuple(f"a photo of a {c} {s}" for s in SHAPES), False) for c in COLOURS]
       + [Concept(s, tuple(f"a photo of a {c} {s}" for c in COLOURS), False) for s in SHAPES])


def toy_albums() -> list[AlbumDef]:
    """One album per class, per colour and per shape, and one nothing here can show."""
    albums = [AlbumDef(f"{c} {s}s", (f"a photo of a {c} {s}",)) for c in COLOURS
              for s in SHAPES]
    albums += [AlbumDef(f"{c} things", tuple(f"a photo of a {c} {s}" for s in SHAPES))
               for c in COLOURS]
    albums += [AlbumDef(f"{s}s", tuple(f"a photo of a {c} {s}" for c in COLOURS))
               for s in SHAPES]
    return albums + [AlbumDef("cats", ("a photo of a cat",))]


def shows(album: str, colour: str, shape: str) -> bool:
    if album == "cats":
        return False
    first, _, second = album.partition(" ")
    if second == "things":
        return colour == first
    if not second:
        return album == shape + "s"
    return (colour, shape + "s") == (first, second)


@pytest.fixture(scope="module")
def libraries(tmp_path_factory: pytest.TempPathFactory, toy_model: str):
    """Twenty pictures of each class, and each library of LIBRARIES as a folder of hard
    links to them, indexed (the same pictures embed once).

    Pictures toy-clip itself misreads (its best class prompt is another class: about
    1.5 % of drawings, whatever their size) are left out of the libraries: no rule about
    membership can put right what the model gets wrong, and these tests are about the
    rule. ``misread`` says how many there were."""
    from photoplug.api import Photoplug
    root = tmp_path_factory.mktemp("toy-libraries")
    app = Photoplug(index=root / "index.sqlite3", model=toy_model, device="cpu")
    pictures = root / "pictures"
    for n, (colour, shape) in enumerate(CLASSES):
        for k in range(20):
            draw_photo(pictures / f"{colour}_{shape}_{k}.jpg", colour, shape,
                       seed=3000 + 100 * n + k, size=(320, 240))
    everything = app.open(str(pictures))
    app.index(everything)
    engine, all_vectors, rows = app.library_vectors(everything)
    encoders = app.encoders(engine)
    prompts = [f"a photo of a {c} {s}" for c, s in CLASSES]
    read_as = (all_vectors @ encoders.texts(prompts).T).argmax(axis=1)
    drawn = [(Path(r[0]), tuple(Path(r[0]).name.split("_")[:2])) for r in rows]
    readable = [(path, label) for (path, label), guess in zip(drawn, read_as)
                if CLASSES[guess] == label]
    out = {}
    for name, keep in LIBRARIES.items():
        folder = root / name.replace(" ", "-")
        folder.mkdir()
        for path, (colour, shape) in readable:
            if keep(colour, shape):
                os.link(path, folder / path.name)
        library = app.open(str(folder))
        app.index(library)
        _, matrix, rows = app.library_vectors(library)
        out[name] = (matrix, [tuple(Path(r[0]).name.split("_")[:2]) for r in rows])
    out["every drawing, misread ones too"] = (all_vectors, [label for _, label in drawn])
    return len(drawn) - len(readable), encoders, out


def test_toy_clip_misreads_few_pictures(libraries) -> None:
    misread, encoders, libs = libraries
    assert misread <= 0.03 * 360
    matrix, labels = libs["every drawing, misread ones too"]
    tags = auto_tags(TOY, matrix, encoders, max_per_photo=5).keywords
    assert sum(set(t) == {c, s} for t, (c, s) in zip(tags, labels)) >= 0.95 * len(labels)


def test_absent_albums_stay_empty_present_ones_are_right(libraries) -> None:
    _, encoders, libs = libraries
    builtin_and_toy = load_vocabulary(BUILTIN_VOCABULARY) + TOY
    for name, (matrix, labels) in libs.items():
        if name not in LIBRARIES:
            continue
        for vocab in (TOY, builtin_and_toy):
            for result in albums_members(toy_albums(), matrix, encoders, vocab):
                album = result.album.name
                truth = {i for i, (c, s) in enumerate(labels) if shows(album, c, s)}
                got = set(result.members)
                if not truth:
                    assert len(got) <= 1, (name, album, [labels[i] for i in got])
                elif vocab is TOY:  # toy-clip knows no other words to weigh them against
                    hits = len(got & truth)
                    precision, recall = hits / max(len(got), 1), hits / len(truth)
                    assert precision >= 0.95 and recall >= 0.95, (name, album, precision,
                                                                  recall)


def test_tags_give_exactly_colour_and_shape_never_an_absent_colour(libraries) -> None:
    _, encoders, libs = libraries
    for name, (matrix, labels) in libs.items():
        if name not in LIBRARIES:
            continue
        tags = auto_tags(TOY, matrix, encoders, max_per_photo=5).keywords
        exact = sum(set(t) == {c, s} for t, (c, s) in zip(tags, labels))
        assert exact >= 0.95 * len(labels), (name, exact, len(labels))
        present = {c for c, _ in labels}
        assert not {w for t in tags for w in t if w in COLOURS} - present, name


def test_explain_names_the_winning_prompt_and_its_best_rival(libraries) -> None:
    _, encoders, libs = libraries
    matrix, labels = libs["all 18 classes"]
    result = albums_members([AlbumDef("red circles", ("a photo of a red circle",))], matrix,
                            encoders, TOY)[0]
    assert "nats" in result.rule and "9 vocabulary concepts" in result.rule
    assert len(result.members) >= 0.95 * labels.count(("red", "circle"))  # each explained
    for row in result.members:
        reason = result.reasons[row]
        assert reason.won_by == "a photo of a red circle"
        assert reason.rival not in (None, "a photo of a red circle")  # a tie is no rival
        assert reason.score > reason.rival_score


def test_a_negative_that_is_also_a_positive_wins(libraries) -> None:
    """The documented outcome of a prompt listed on both sides: it is negative (a
    structural rule: no decision hangs on two equal floats)."""
    _, encoders, libs = libraries
    matrix, labels = libs["all 18 classes"]
    circles = tuple(f"a photo of a {c} circle" for c in COLOURS)
    result = albums_members([AlbumDef("circles, not red", circles, ("a photo of a red circle",))],
                            matrix, encoders, TOY)[0]
    got = [labels[i] for i in result.members]
    assert ("red", "circle") not in got
    truth = [i for i, (c, s) in enumerate(labels) if s == "circle" and c != "red"]
    hits = len(set(truth) & set(result.members))
    assert hits >= 0.95 * len(truth) and hits >= 0.95 * len(got)
    only_negative = albums_members([AlbumDef("none", ("a photo of a red circle",),
                                             ("a photo of a red circle",))],
                                   matrix, encoders, TOY)[0]
    assert only_negative.members == [] and "negative" in only_negative.rule


def test_a_prompt_naming_a_concept_stands_for_it(libraries) -> None:
    """toy-clip never learned the bare word "red"; an album whose prompt is just "red"
    takes the vocabulary's concept red instead of losing to it."""
    _, encoders, libs = libraries
    matrix, labels = libs["all 18 classes"]
    result = albums_members([AlbumDef("reds", ("red",))], matrix, encoders, TOY)[0]
    assert {labels[i] for i in result.members} == {("red", s) for s in SHAPES}


def test_examples_bring_their_description(libraries, tmp_path: Path) -> None:
    _, encoders, libs = libraries
    example = draw_photo(tmp_path / "mine.png", "blue", "square", seed=7, size=(800, 600))
    for name in ("all 18 classes", "no red"):
        matrix, labels = libs[name]
        result = albums_members([AlbumDef("like mine", (), examples=(example,))], matrix,
                                encoders, TOY)[0]
        assert {labels[i] for i in result.members} == {("blue", "square")}, name
    matrix, labels = libs["half the colours missing"]
    red = draw_photo(tmp_path / "red.png", "red", "triangle", seed=8, size=(800, 600))
    result = albums_members([AlbumDef("like red", (), examples=(red,))], matrix, encoders,
                            TOY)[0]
    assert len(result.members) <= 1  # no red in this library


def near_duplicate(matrix: np.ndarray, row: int, seed: int) -> np.ndarray:
    """A photo of the same moment as ``row`` (a burst's next frame): its vector a little
    off, normalised."""
    noise = np.random.default_rng(seed).standard_normal(matrix.shape[1])
    vector = matrix[row] + 0.02 * noise / np.linalg.norm(noise)
    return (vector / np.linalg.norm(vector)).astype(matrix.dtype)


def test_corrections_are_hard_rules_and_examples(libraries) -> None:
    _, encoders, libs = libraries
    matrix, labels = libs["all 18 classes"]
    album = AlbumDef("red circles", ("a photo of a red circle",))
    before = albums_members([album], matrix, encoders, TOY)[0].members
    taken_out = before[0]
    put_in = labels.index(("purple", "square"))
    # a near duplicate of each: what follows the user's correction is surely there
    twin_out, twin_in = len(matrix), len(matrix) + 1
    matrix = np.vstack([matrix, near_duplicate(matrix, taken_out, 1),
                        near_duplicate(matrix, put_in, 2)])
    labels = [*labels, labels[taken_out], labels[put_in]]
    before = albums_members([album], matrix, encoders, TOY)[0].members
    assert taken_out in before and twin_out in before and put_in not in before
    result = albums_members([album], matrix, encoders, TOY, {"red circles": AlbumCorrections(
        frozenset([taken_out]), frozenset([put_in]))})[0]
    assert taken_out not in result.members and put_in in result.members
    assert result.reasons[put_in].how == "added by you"
    assert result.kept_out[taken_out].how == "taken out by you"
    # a red circle leaves with the one taken out only if that one is its nearest
    left = set(before) - set(result.members) - {taken_out}
    assert twin_out in left
    assert all(result.kept_out[row].near == taken_out for row in left)
    assert len(left) <= 0.2 * len(before)
    pulled_in = set(result.members) - set(before) - {put_in}
    assert twin_in in pulled_in
    for row in pulled_in:  # pulled in: its nearest photo
        assert result.reasons[row].near == put_in and labels[row] == ("purple", "square")


def test_the_same_prompt_twice_is_one_column() -> None:
    pool = Pool()
    a = pool.add(("a photo of a red circle",), "x", np.ones(4) / 2)
    b = pool.add(("a photo of a red circle",), "y", np.zeros(4))
    assert a == b and len(pool) == 1
