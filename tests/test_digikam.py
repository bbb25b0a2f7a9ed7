"""The digiKam adapter against real digiKam schemas and a real digiKam 8 library.

Versions are in test_digikam_versions.py, a running digiKam in test_digikam_running.py.
"""
from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, Cli, album_plan, keyword_plan
from digikam_fixtures import FIXTURES, VERSIONS, dump, library_db
from photoplug.adapters.digikam.adapter import DigikamAdapter
from photoplug.adapters.digikam.db import ROOT_TAG, resolve_root, search_xml
from photoplug.hooks import LocationError, WriteOptions
from photoplug.plugin_manager import get_plugin_manager


@pytest.fixture
def collection(tmp_path: Path) -> tuple[Path, list[tuple[int, str]]]:
    """The real digiKam 8 library (DBVersion 16), its photos drawn under pictures/."""
    db = tmp_path / "db" / "digikam4.db"
    db.parent.mkdir()
    drawn = library_db(db, tmp_path / "pictures")
    return db, drawn


def rows(db: Path, sql: str, *args: object) -> list[tuple]:
    with sqlite3.connect(db) as con:
        out = con.execute(sql, args).fetchall()
    con.close()
    return out


def test_scan_lists_visible_images_read_only(collection) -> None:
    db, drawn = collection
    rows(db, "UPDATE Images SET status=3 WHERE id=2")  # trashed in digiKam
    before = db.read_bytes()
    library = DigikamAdapter().open(str(db.parent))  # the folder works too
    refs = {r.stable_id: r for r in library.scan()}
    assert set(refs) == {str(i) for i, _ in drawn} - {"2"}
    turtle = refs["11"]
    assert turtle.path.name == "Turtle.jpg" and turtle.path.exists()
    assert turtle.host_ref == {"imageid": 11, "album": "/Nature/Animals", "name": "Turtle.jpg"}
    assert db.read_bytes() == before, "reading changed the database"


def test_unmounted_roots_are_offline_not_fatal(tmp_path: Path) -> None:
    db = tmp_path / "digikam4.db"
    with sqlite3.connect(db) as con:
        con.executescript((FIXTURES / "digikam8-library.sql").read_text())
    con.close()
    library = DigikamAdapter().open(str(db))
    refs = list(library.scan())
    assert len(refs) == 12 and all(r.offline for r in refs)
    assert "not mounted" in library.offline_roots()[0]


def test_album_root_forms(tmp_path: Path) -> None:
    assert resolve_root(f"volumeid:?path={tmp_path}", "/") == (tmp_path, "")
    (tmp_path / "Pictures").mkdir()
    assert resolve_root(f"volumeid:?path={tmp_path}", "/Pictures/")[0] == tmp_path / "Pictures"
    path, why = resolve_root("volumeid:?path=C:/Users/anna/Pictures", "/")
    assert path is None and "Windows" in why
    path, why = resolve_root("volumeid:?uuid=0000-dead-beef&fileuuid=1", "/photos")
    assert path is None and "not mounted" in why
    share = f"networkshareid:?mountpath=/nonexistent/share&mountpath={tmp_path}"
    assert resolve_root(share, "/")[0] == tmp_path
    assert resolve_root("networkshareid:?mountpath=/mnt/nas", "/")[0] is None


def test_mysql_setups_are_named(tmp_path: Path, monkeypatch) -> None:
    home = tmp_path / "home"
    (home / ".config").mkdir(parents=True)
    (home / ".config" / "digikamrc").write_text("[Database Settings]\nDatabase Type=QMYSQL\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    with pytest.raises(LocationError, match="MySQL"):
        DigikamAdapter().open(str(tmp_path / "elsewhere"))


def closure(db: Path, tag_id: int) -> set[int]:
    return {p for (p,) in rows(db, "SELECT pid FROM TagsTree WHERE id=?", tag_id)}


def tag_id(db: Path, *path: str) -> int:
    pid = 0
    for name in path:
        ((pid,),) = rows(db, "SELECT id FROM Tags WHERE pid=? AND name=?", pid, name)
    return pid


@pytest.mark.parametrize("version", VERSIONS)
def test_write_idempotent_reversible(version: int, tmp_path: Path) -> None:
    """The same real library in digiKam 6's (10), 7's (13, 15) and 8's (16) schema."""
    db = tmp_path / "db" / "digikam4.db"
    db.parent.mkdir()
    library_db(db, tmp_path / "pictures", version)
    pm = get_plugin_manager()
    library = DigikamAdapter().open(str(db))
    original = dump(db)

    beach = album_plan({"Beach selfies": ["1", "9"]})
    dry = pm.hook.photoplug_write(library=library, plan=beach, options=WriteOptions(dry_run=True))
    assert dry.changes and dump(db) == original
    report = pm.hook.photoplug_write(library=library, plan=beach, options=WriteOptions())
    words = keyword_plan({"9": ["bird", "sky/blue"], "11": ["bird"]})
    pm.hook.photoplug_write(library=library, plan=words, options=WriteOptions())
    backups = sorted(db.parent.glob("digikam4.db.photoplug-backup-*"))
    assert len(backups) == 2 and dump(backups[0]) == original
    assert str(backups[0]) in report.notes[-1]

    after = dump(db)
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]
    assert set(original) <= set(after), "a pre-existing row changed"
    album_tag = tag_id(db, ROOT_TAG, "albums", "Beach selfies")
    root = tag_id(db, ROOT_TAG)
    assert closure(db, album_tag) == {0, root, tag_id(db, ROOT_TAG, "albums")}
    assert closure(db, tag_id(db, ROOT_TAG, "tags", "sky", "blue")) == \
        {0, root, tag_id(db, ROOT_TAG, "tags"), tag_id(db, ROOT_TAG, "tags", "sky")}
    assert {i for (i,) in rows(db, "SELECT imageid FROM ImageTags WHERE tagid=?",
                               album_tag)} == {1, 9}
    assert rows(db, "SELECT type, name, query FROM Searches WHERE name LIKE 'photoplug%'") == \
        [(2, "photoplug: Beach selfies", search_xml(album_tag))]

    again = pm.hook.photoplug_write(library=library, plan=beach, options=WriteOptions())
    assert again.changes == [] and dump(db) == after  # idempotent, and no new backup
    assert len(list(db.parent.glob("digikam4.db.photoplug-backup-*"))) == 2

    pm.hook.photoplug_write(library=library, plan=album_plan({"Beach selfies": ["9", "11"]}),
                            options=WriteOptions())  # membership follows, search updated in place
    assert {i for (i,) in rows(db, "SELECT imageid FROM ImageTags WHERE tagid=?",
                               album_tag)} == {9, 11}
    assert len(rows(db, "SELECT id FROM Searches WHERE name LIKE 'photoplug%'")) == 1

    user_tag = tag_id(db, "Animal", "Bird")  # a user tag photoplug must never touch
    undo = pm.hook.photoplug_undo(library=library, options=WriteOptions())
    assert any("smart album" in c for c in undo.changes)
    assert dump(db) == original
    assert tag_id(db, "Animal", "Bird") == user_tag


def test_refuses_while_locked(collection) -> None:
    db, _ = collection
    library = DigikamAdapter().open(str(db))
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another program is writing
    try:
        with pytest.raises(LocationError, match="is locked by another program"):
            library.write(keyword_plan({"2": ["y"]}), WriteOptions())
    finally:
        holder.execute("ROLLBACK")
        holder.close()


KILLED_WRITER = """
import sys, time
from photoplug.adapters.digikam.adapter import DigikamAdapter
library = DigikamAdapter().open(sys.argv[1])
def change(w):
    for n in range(1, 13):
        w.link(w.tag(["albums", f"album {n}"]), "x", {n})
    print("inside", flush=True)
    time.sleep(60)
library._transaction(change, commit=True)
"""


def test_sigkill_mid_transaction_leaves_db_untouched(collection) -> None:
    db, _ = collection
    original = dump(db)
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(db)],
                            stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert proc.stdout.readline().strip() == "inside"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]
    assert dump(db) == original
    library = DigikamAdapter().open(str(db))
    library.write(album_plan({"complete": ["1", "2"]}), WriteOptions())
    assert len(rows(db, "SELECT * FROM ImageTags WHERE tagid=?",
                    tag_id(db, ROOT_TAG, "albums", "complete"))) == 2


def test_index_search_write_undo_from_the_cli(toy_cli: Cli, collection) -> None:
    db, drawn = collection
    original = dump(db)
    location = f"digikam:{db}"
    report = toy_cli.json("index", location)
    assert report["new"] == 12 and not report["skipped"]
    wanted = next(cls for _, cls in drawn)
    results = toy_cli.json("search", f"a photo of a {wanted}", location, "--top", "1",
                           "--save-album", wanted, model=False)
    best = results[0]
    assert best["location"] == location and best["host_ref"]["imageid"] == int(best["id"])
    assert rows(db, "SELECT name FROM Searches WHERE name LIKE 'photoplug%'") == \
        [(f"photoplug: {wanted}",)]
    toy_cli("undo", location, model=False)
    assert dump(db) == original


def test_filters_from_digikams_own_knowledge(collection) -> None:
    db, _ = collection
    with sqlite3.connect(db) as con:  # what face recognition leaves: a People tag, linked
        (people,) = con.execute("SELECT id FROM Tags WHERE pid=0 AND name='People'").fetchone()
        anna = con.execute("INSERT INTO Tags (pid, name) VALUES (?, 'Anna')", (people,)).lastrowid
        con.execute("INSERT INTO TagProperties VALUES (?, 'person', 'Anna')", (anna,))
        con.execute("INSERT INTO ImageTags VALUES (4, ?)", (anna,))
    con.close()
    library = DigikamAdapter().open(str(db))
    ids = lambda **f: {int(i) for i in library.select(**f)}  # noqa: E731
    assert ids(tags=["Animal"]) == {9, 11}
    assert ids(tags=["Animal/Bird"]) == {9}
    assert ids(tags=["People/Anna"]) == {4}
    assert ids(album="Nature") == {8, 9, 11}
    assert ids(rating=5) == {4, 10}
    assert ids(color_label="magenta") == {11}
    assert ids(pick_label="accepted") == set(range(1, 11))
    assert ids(since="2026-01-01") == {7, 8, 10}
    assert ids(until="2025-04-06") == {9, 11}
    assert ids(tags=["Animal"], pick_label="accepted", rating=4) == {9}
    with pytest.raises(LocationError, match="no tag People/Bob"):
        library.select(tags=["People/Bob"])


def test_cli_search_narrowed_by_digikam_tag(toy_cli: Cli, collection) -> None:
    db, _ = collection
    location = f"digikam:{db}"
    toy_cli("index", location)
    results = toy_cli.json("search", "a photo of a red circle", location, "--tag", "Animal",
                           model=False)
    assert {r["id"] for r in results} == {"9", "11"}
    rated = toy_cli.json("search", "a photo", location, "--rating", "5", "--top", "12",
                         model=False)
    assert {r["id"] for r in rated} == {"4", "10"}


def tag_path(db: Path, path: str, separator: str = "/") -> int:
    """The tag digiKam finds for a sidecar keyword path (TagsCache::getOrCreateTags
    looks each level up by parent and name)."""
    return tag_id(db, *path.split(separator))


def test_sidecars_name_the_tags_photoplug_wrote_and_undo_exactly(collection,
                                                                 tmp_path: Path) -> None:
    """A sidecar keyword is the same tag as in the database (photoplug/tags/beach), so
    digiKam's "Read metadata from files" finds photoplug's tag instead of making another;
    album membership stays out of sidecars."""
    from test_folder_writeback import read_keywords
    db, _ = collection
    pictures = tmp_path / "pictures"
    turtle = pictures / "Nature" / "Animals" / "Turtle.jpg.xmp"
    volunteer = pictures / "Trains" / "Train Museam Volunteer.jpg.xmp"
    shutil.copy(FIXTURES / "Turtle.jpg.xmp", turtle)
    shutil.copy(FIXTURES / "Train Museam Volunteer.jpg.xmp", volunteer)
    theirs = {p: read_keywords(p) for p in (turtle, volunteer)}
    originals = {p: p.read_bytes() for p in (turtle, volunteer)}
    original_db = dump(db)

    library, sidecars = DigikamAdapter().open(str(db)), WriteOptions(sidecars=True)
    report = library.write(keyword_plan({"11": ["beach"], "12": ["beach"],
                                         "9": ["sky/blue"]}), sidecars)
    assert not report.errors, report.errors
    library.write(album_plan({"Sunsets": ["9", "11"]}), sidecars)
    beach = tag_id(db, ROOT_TAG, "tags", "beach")
    for sidecar in (turtle, volunteer):
        now = read_keywords(sidecar)
        for field, values in theirs[sidecar].items():
            assert now[field][: len(values)] == values, "a keyword digiKam wrote was dropped"
        ours = [k for k in now["XMP-digiKam:TagsList"] if k.startswith(ROOT_TAG)]
        assert ours == ["photoplug/tags/beach"], "albums must not become keywords"
        assert tag_path(db, ours[0]) == beach
        assert "photoplug|tags|beach" in now["XMP-lr:HierarchicalSubject"]
        assert tag_path(db, "photoplug|tags|beach", "|") == beach
        assert "beach" in now["XMP-dc:Subject"]
    birds = read_keywords(pictures / "Nature" / "Animals" / "Birds.jpg.xmp")
    assert birds["XMP-digiKam:TagsList"] == ["photoplug/tags/sky/blue"]
    assert birds["XMP-lr:HierarchicalSubject"] == ["photoplug|tags|sky|blue"]
    assert birds["XMP-dc:Subject"] == ["blue"]
    assert rows(db, "SELECT imageid FROM ImageTags WHERE tagid=?",
                tag_path(db, birds["XMP-digiKam:TagsList"][0])) == [(9,)]

    library.undo(sidecars)
    assert {p: p.read_bytes() for p in (turtle, volunteer)} == originals
    assert not (pictures / "Nature" / "Animals" / "Birds.jpg.xmp").exists()
    assert dump(db) == original_db


def toy_commands(location: str, folder: Path) -> tuple[list[str], list[str]]:
    """`albums sync` of "red things" and "circles", and `tag`, with toy-clip's vocabulary."""
    from test_albums import TOY_ALBUMS, toy_vocabulary
    albums = folder / "albums.toml"
    albums.write_text(TOY_ALBUMS)
    vocabulary = folder / "toy.txt"
    vocabulary.write_text(toy_vocabulary())
    mine = ["--vocabulary", str(vocabulary), "--only-mine"]
    return ["albums", "sync", location, "--albums", str(albums), *mine], ["tag", location, *mine]


def test_albums_sync_and_tag_end_to_end(toy_cli: Cli, collection, tmp_path: Path) -> None:
    db, drawn = collection
    original = dump(db)
    location = f"digikam:{db}"
    sync, tag = toy_commands(location, tmp_path)
    toy_cli(*sync)
    toy_cli(*tag, model=False)
    after = dump(db)
    assert set(original) <= set(after)
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]
    searches = {n for (n,) in rows(db, "SELECT name FROM Searches WHERE name LIKE 'photoplug%'")}
    assert searches == {"photoplug: red things", "photoplug: circles"}
    red = {i for i, cls in drawn if cls.startswith("red ")}
    assert red, "the fixture draws red shapes for some images"
    tagged = {i for (i,) in rows(db, "SELECT imageid FROM ImageTags WHERE tagid=?",
                                 tag_id(db, ROOT_TAG, "albums", "red things"))}
    assert tagged == red
    again = toy_cli(*sync, model=False)
    assert "nothing to change" in again.stderr and dump(db) == after
    toy_cli("undo", location, model=False)
    assert dump(db) == original


def test_corrections_made_in_digikam_win(toy_cli: Cli, collection, tmp_path: Path) -> None:
    """What the user does in digiKam (removing photoplug's album tag from a photo, adding
    it to another, removing a keyword tag) survives every later sync and tag."""
    db, drawn = collection
    location = f"digikam:{db}"
    sync, tag = toy_commands(location, tmp_path)
    toy_cli(*sync)
    toy_cli(*tag, model=False)
    red_tag = tag_id(db, ROOT_TAG, "albums", "red things")
    first = {i for (i,) in rows(db, "SELECT imageid FROM ImageTags WHERE tagid=?", red_tag)}
    out, other = min(first), min({i for i, _ in drawn} - first)
    colour = tag_id(db, ROOT_TAG, "tags", drawn[other - 1][1].split()[0])
    # in digiKam: take one photo out of the album, put another in, drop a keyword
    rows(db, "DELETE FROM ImageTags WHERE imageid=? AND tagid=?", out, red_tag)
    rows(db, "INSERT INTO ImageTags (imageid, tagid) VALUES (?, ?)", other, red_tag)
    rows(db, "DELETE FROM ImageTags WHERE imageid=? AND tagid=?", other, colour)
    again = toy_cli(*sync, model=False)
    assert "1 photos you took out stay out" in again.stderr
    now = {i for (i,) in rows(db, "SELECT imageid FROM ImageTags WHERE tagid=?", red_tag)}
    assert out not in now and other in now and first - {out} <= now  # nothing here is a
    assert now == first - {out} | {other}  # near duplicate of the photos moved
    retag = toy_cli(*tag, model=False)
    assert "stays off 1 photos you took it off" in retag.stderr
    assert not rows(db, "SELECT 1 FROM ImageTags WHERE imageid=? AND tagid=?", other, colour)
    toy_cli(*sync, "--reset", "red things", model=False)
    assert {i for (i,) in rows(db, "SELECT imageid FROM ImageTags WHERE tagid=?",
                               red_tag)} == first


def test_one_backup_per_command_and_only_the_newest_kept(toy_cli: Cli, collection) -> None:
    db, _ = collection
    location = f"digikam:{db}"
    toy_cli("index", location)

    def backups() -> list[Path]:
        return sorted(db.parent.glob("digikam4.db.photoplug-backup-*"))

    result = toy_cli("search", "a photo of a red circle", location, "--top", "2",
                     "--add-keyword", "red", "--save-album", "Reds", model=False)
    assert len(backups()) == 1 and str(backups()[0]) in result.stderr  # one, and it says so
    for n, word in enumerate(["a", "b", "c", "d"]):
        toy_cli("search", "a photo", location, "--top", "1", "--add-keyword", word,
                model=False)
        assert len(backups()) == min(n + 2, 3)
    newest = backups()[-1]
    toy_cli("search", "a photo", location, "--top", "1", "--add-keyword", "e",
            "--keep-backups", "1", model=False)
    assert len(backups()) == 1 and backups()[0] != newest
