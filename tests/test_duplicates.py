"""``photoplug duplicates``: groups of one shot among photos made at test time, the copy to
keep, keywords written to a folder and to digiKam (undone, corrected, refused while
locked), the other copies marked rejected in digiKam (undone, the user's change kept),
bad input, and the approximate neighbours against the exact ones."""
from __future__ import annotations

import itertools
import json
import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from conftest import Cli, draw_photo
from digikam_fixtures import dump, library_db
from photo_factory import bad_inputs, duplicate_set, scene
from photoplug.duplicates.best_copy import Copy, best_copy
from photoplug.duplicates.grouping import approximate_pairs, components, exact_pairs
from photoplug.duplicates.looks import measure
from test_folder_writeback import read_keywords

KEEP = "photoplug|duplicates|suggested-keep"


def pairs(groups: list[list[str]]) -> set[frozenset[str]]:
    return {frozenset(p) for g in groups for p in itertools.combinations(g, 2)}


def found_groups(cli: Cli, location: str, *args: str) -> list[dict]:
    return cli.json("duplicates", location, *args)  # type: ignore[return-value]


def names(group: dict) -> list[str]:
    return [Path(m["path"]).name for m in group["members"]]


def test_acceptance_pairs_and_the_copy_to_keep(tmp_path: Path, toy_model: str) -> None:
    """40 sources (2000x1500), each with 1-4 derived copies, and 40 look-alikes: precision
    >= 0.98 and recall >= 0.95 on pairs, the original kept in >= 90 % of groups."""
    truth = duplicate_set(tmp_path / "photos")
    cli = Cli(tmp_path / "index.sqlite3", toy_model)
    cli("index", str(tmp_path / "photos"))
    groups = found_groups(cli, str(tmp_path / "photos"))
    expected, found = pairs(truth.groups), pairs([names(g) for g in groups])
    precision = len(found & expected) / max(len(found), 1)
    recall = len(found & expected) / len(expected)
    kept = [next(Path(m["path"]).name for m in g["members"] if m["keep"]) for g in groups]
    originals = sum(k.split("_")[1].startswith("original") for k in kept) / len(groups)
    print(f"pairs: precision {precision:.3f}, recall {recall:.3f}; original kept in "
          f"{originals:.1%} of {len(groups)} groups ({len(truth.groups)} made)")
    assert precision >= 0.98 and recall >= 0.95 and originals >= 0.9
    assert all(g["reason"] for g in groups)


@pytest.fixture
def small(tmp_path: Path) -> Path:
    """Four sources with their copies and look-alikes, 800x600."""
    duplicate_set(tmp_path / "photos", sources=4, size=(800, 600), seed=3)
    return tmp_path / "photos"


def test_folder_write_undo_and_the_users_corrections(toy_cli: Cli, small: Path) -> None:
    groups = found_groups(toy_cli, str(small), "--write")
    assert groups and list(small.glob("*.xmp"))
    keep = next(Path(m["path"]) for m in groups[0]["members"] if m["keep"])
    other = next(Path(m["path"]) for m in groups[0]["members"] if not m["keep"])
    group_tag = "photoplug|" + groups[0]["group"].replace("/", "|")
    keep_side = Path(f"{keep}.xmp")
    assert set(read_keywords(keep_side)["XMP-lr:HierarchicalSubject"]) == {group_tag, KEEP}
    assert read_keywords(Path(f"{other}.xmp"))["XMP-lr:HierarchicalSubject"] == [group_tag]
    files = {p: p.read_bytes() for p in small.iterdir() if p.suffix in (".jpg", ".dng")}
    again = toy_cli("duplicates", str(small), "--write", model=False)
    assert "nothing to change" in again.stderr and "(0 measured now)" in again.stderr
    # the user takes the suggestion off: it stays off
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-XMP-dc:Subject-=suggested-keep",
                    f"-XMP-lr:HierarchicalSubject-={KEEP}",
                    "-XMP-digiKam:TagsList-=photoplug/duplicates/suggested-keep",
                    str(keep_side)], check=True)
    third = toy_cli("duplicates", str(small), "--write", model=False)
    assert "stays off 1 photos you took it off" in third.stderr
    assert read_keywords(keep_side)["XMP-lr:HierarchicalSubject"] == [group_tag]
    # a photo indexed later is measured alone, and joins its shot
    Image.open(keep if keep.suffix == ".jpg" else other).resize((400, 300)).save(
        small / "later.jpg", quality=85)
    toy_cli("index", str(small))
    fourth = toy_cli("duplicates", str(small), "--json", model=False)
    assert "(1 measured now)" in fourth.stderr
    assert any("later.jpg" in names(g) for g in json.loads(fourth.stdout))
    toy_cli("undo", str(small), model=False)
    assert not any("duplicates" in v for p in small.glob("*.xmp")
                   for v in read_keywords(p).get("XMP-lr:HierarchicalSubject", []))
    assert all(p.read_bytes() == data for p, data in files.items())  # no photo touched


def test_a_keep_that_moves_leaves_the_old_one(toy_cli: Cli, tmp_path: Path) -> None:
    """Two half-size copies: the less compressed is kept; once their original is indexed,
    the suggestion moves to it and leaves the copy."""
    folder = tmp_path / "photos"
    folder.mkdir()
    picture = scene("red", "circle", (1200, 900), np.random.default_rng(5))
    picture.resize((600, 450)).save(folder / "copy.jpg", quality=90)
    picture.resize((600, 450)).save(folder / "copy-2.jpg", quality=50)

    def kept() -> list[str]:
        groups = found_groups(toy_cli, str(folder), "--write")
        assert len(groups) == 1
        return [Path(m["path"]).name for m in groups[0]["members"] if m["keep"]]

    assert kept() == ["copy.jpg"]
    picture.save(folder / "original.jpg", quality=95)
    toy_cli("index", str(folder))
    assert kept() == ["original.jpg"]
    assert KEEP not in read_keywords(folder / "copy.jpg.xmp")["XMP-lr:HierarchicalSubject"]
    assert KEEP in read_keywords(folder / "original.jpg.xmp")["XMP-lr:HierarchicalSubject"]


def digikam_tags(db: Path) -> dict[str, set[int]]:
    with sqlite3.connect(db) as con:
        found = con.execute("SELECT t.name, it.imageid FROM Tags t JOIN ImageTags it ON "
                            "it.tagid = t.id JOIN Tags p ON p.id = t.pid "
                            "WHERE p.name = 'duplicates'").fetchall()
    con.close()
    out: dict[str, set[int]] = {}
    for name, image in found:
        out.setdefault(name, set()).add(image)
    return out


def test_digikam_write_undo_and_a_locked_database(toy_cli: Cli, tmp_path: Path) -> None:
    db = tmp_path / "db" / "digikam4.db"
    db.parent.mkdir()
    drawn = library_db(db, tmp_path / "pictures")
    with sqlite3.connect(db) as con:
        (a, b) = [Path(tmp_path / "pictures" / album.strip("/") / name) for album, name in
                  con.execute("SELECT a.relativePath, i.name FROM Images i JOIN Albums a "
                              "ON a.id = i.album WHERE i.id IN (2, 3) ORDER BY i.id")]
    con.close()
    Image.open(a).resize((320, 240)).save(b, quality=80)  # image 3: a half-size copy of 2
    location = f"digikam:{db}"
    toy_cli("index", location)
    original = dump(db)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another program is writing
    try:
        locked = toy_cli("duplicates", location, "--write", check=False, model=False)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert locked.returncode == 1
    errors = [line for line in locked.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "locked by another program" in errors[0]
    assert dump(db) == original
    groups = found_groups(toy_cli, location, "--write")
    assert [sorted(m["id"] for m in g["members"]) for g in groups] == [["2", "3"]]
    tags = digikam_tags(db)
    assert tags.pop("suggested-keep") == {2} and list(tags.values()) == [{2, 3}]
    assert len(drawn) == 12
    toy_cli("undo", location, model=False)
    assert digikam_tags(db) == {}


def pick_labels(db: Path) -> dict[int, str]:
    """Each image's pick label as digiKam keeps it (an internal tag linked to it)."""
    with sqlite3.connect(db) as con:
        found = dict(con.execute(
            "SELECT it.imageid, t.name FROM ImageTags it JOIN Tags t ON t.id = it.tagid "
            "JOIN Tags p ON p.id = t.pid WHERE p.name = '_Digikam_Internal_Tags_' AND "
            "t.name LIKE 'Pick Label %'"))
    con.close()
    return found


def test_digikam_mark_others_rejected_undo_and_the_users_change(toy_cli: Cli, tmp_path: Path
                                                                ) -> None:
    """Two copies of image 2: 3 (pick label Accepted, from digiKam) and 12 (none). They
    are marked rejected; the user then gives 12 the label Pending, which a re-run keeps;
    undo gives 3 its Accepted back and leaves 12 as the user set it."""
    db = tmp_path / "db" / "digikam4.db"
    db.parent.mkdir()
    library_db(db, tmp_path / "pictures")
    with sqlite3.connect(db) as con:
        a, b, c = [Path(tmp_path / "pictures" / album.strip("/") / name) for album, name in
                   con.execute("SELECT a.relativePath, i.name FROM Images i JOIN Albums a "
                               "ON a.id = i.album WHERE i.id IN (2, 3, 12) ORDER BY i.id")]
    con.close()
    Image.open(a).resize((320, 240)).save(b, quality=80)
    Image.open(a).save(c, quality=60)
    before = pick_labels(db)
    assert before[2] == before[3] == "Pick Label Accepted" and 12 not in before
    location = f"digikam:{db}"
    toy_cli("index", location)
    alone = toy_cli("duplicates", location, "--mark-others", "rejected", check=False,
                    model=False)
    assert alone.returncode == 1 and "--mark-others needs --write" in alone.stderr
    dry = toy_cli("duplicates", location, "--write", "--mark-others", "rejected", "--dry-run",
                  model=False)
    assert "pick label Rejected on 2 photos" in dry.stderr and pick_labels(db) == before
    groups = found_groups(toy_cli, location, "--write", "--mark-others", "rejected")
    assert [sorted(m["id"] for m in g["members"]) for g in groups] == [["12", "2", "3"]]
    assert [m["id"] for g in groups for m in g["members"] if m["keep"]] == ["2"]
    marked = pick_labels(db)
    assert marked == {**before, 3: "Pick Label Rejected", 12: "Pick Label Rejected"}

    with sqlite3.connect(db) as con:  # the user picks image 12 after all, as digiKam does
        con.execute("UPDATE ImageTags SET tagid = (SELECT id FROM Tags WHERE name = "
                    "'Pick Label Pending') WHERE imageid = 12 AND tagid = (SELECT id FROM "
                    "Tags WHERE name = 'Pick Label Rejected')")
    con.close()
    again = toy_cli("duplicates", location, "--write", "--mark-others", "rejected",
                    model=False)
    assert "1 photos you took photoplug's reject off stay as you left them" in again.stderr
    assert pick_labels(db)[12] == "Pick Label Pending"
    undone = toy_cli("undo", location, model=False)
    assert "give 1 photos back the pick label" in undone.stderr
    assert pick_labels(db) == {**before, 12: "Pick Label Pending"}
    assert digikam_tags(db) == {}


def test_a_folder_has_no_reject_mark(toy_cli: Cli, small: Path) -> None:
    refused = toy_cli("duplicates", str(small), "--write", "--mark-others", "rejected",
                      check=False)
    errors = [line for line in refused.stderr.splitlines() if "error" in line]
    assert refused.returncode == 1 and len(errors) == 1 and "no reject mark" in errors[0]
    assert not list(small.rglob("*.xmp"))


def test_bad_input_is_skipped_and_one_photo_has_no_group(toy_cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    reasons = bad_inputs(folder)
    draw_photo(folder / "alone.jpg", "red", "circle", seed=1, size=(800, 600))
    result = toy_cli("duplicates", str(folder), "--json")
    assert result.stdout.strip() == "[]"
    for name, word in reasons.items():
        line = next(ln for ln in result.stderr.splitlines() if name in ln)
        assert line.startswith("skipped ") and word in line
    assert "0 groups among 1 photos" in result.stderr


def test_the_sharpest_frame_of_a_burst_is_kept(tmp_path: Path) -> None:
    picture = scene("blue", "square", (1200, 900), np.random.default_rng(2))
    picture.filter(ImageFilter.GaussianBlur(3)).save(tmp_path / "a.jpg", quality=90)
    picture.save(tmp_path / "b.jpg", quality=90)
    copies = [Copy(p, measure(p), p.stat().st_size, 0.0)
              for p in (tmp_path / "a.jpg", tmp_path / "b.jpg")]
    keep, reason = best_copy(copies)
    assert keep == 1 and "sharpest" in reason


def test_approximate_neighbours_find_the_exact_ones() -> None:
    """Planted groups among 21k random vectors (above the exact method's limit)."""
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(21_000, 128)).astype(np.float32)  # unrelated: cosine < 0.4
    for start in range(0, 3000, 3):  # groups of three: noisy copies of one vector
        matrix[start + 1:start + 3] = matrix[start] + rng.normal(0, 0.05, (2, 128))
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    exact = {tuple(p) for p in exact_pairs(matrix)}
    approximate = {tuple(p) for p in approximate_pairs(matrix)}
    assert approximate <= exact
    assert components(len(matrix), np.array(sorted(exact))) == [
        [s, s + 1, s + 2] for s in range(0, 3000, 3)]
    assert len(approximate & exact) >= 0.95 * len(exact)
