"""digiKam databases of DBVersion 10 to 16 (digiKam 6.0 to 8.x): read, searched, written.

How each database is made is in digikam_fixtures.py: 15 from digiKam 7.9's dbconfig.xml,
10 from it with Albums.modificationDate (the 13->14 step) undone, 13 as digiKam's own
update actions make it from 10, 16 from real digiKam 8 databases.
"""
from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from conftest import Cli, album_plan
from digikam_fixtures import (
    FIXTURES,
    VERSIONS,
    create_digikam_db,
    dump,
    library_db,
    schema,
    upgrade,
)
from photoplug.adapters.digikam.adapter import DigikamAdapter
from photoplug.hooks import LocationError, WriteOptions


def sql(db: Path, statement: str, *args: object) -> list[tuple]:
    with closing(sqlite3.connect(db)) as con, con:
        return con.execute(statement, args).fetchall()


def test_the_older_schemas_are_what_digikams_own_updates_start_from(tmp_path: Path) -> None:
    """Updating the version-10 database with digiKam's own actions (10->11 ... 14->15)
    gives exactly the schema digiKam 7.9 creates; 13 lacks only Albums.modificationDate."""
    for version in (10, 13, 15):
        create_digikam_db(tmp_path / f"v{version}.db", version)
    with closing(sqlite3.connect(tmp_path / "v10.db")) as db, db:
        upgrade(db, 10, 15)
    assert schema(tmp_path / "v10.db") == schema(tmp_path / "v15.db")
    v13, v15 = schema(tmp_path / "v13.db"), schema(tmp_path / "v15.db")
    assert v15["columns"]["Albums"][-1] == ("modificationDate", "DATETIME")
    assert v13["columns"]["Albums"] == v15["columns"]["Albums"][:-1]
    assert {t: c for t, c in v13["columns"].items() if t != "Albums"} == \
        {t: c for t, c in v15["columns"].items() if t != "Albums"}
    assert sql(tmp_path / "v13.db", "SELECT value FROM Settings WHERE keyword LIKE "
                                    "'DBVersion%' ORDER BY keyword") == [("13",), ("5",)]


@pytest.mark.parametrize("version", VERSIONS)
def test_index_search_write_undo_on_every_version(version: int, toy_cli: Cli,
                                                  tmp_path: Path) -> None:
    db = tmp_path / "db" / "digikam4.db"
    db.parent.mkdir()
    drawn = library_db(db, tmp_path / "pictures", version)
    original = dump(db)
    location = f"digikam:{db}"
    assert toy_cli.json("index", location)["new"] == 12
    animals = {image_id: cls for image_id, cls in drawn if image_id in (9, 11)}
    assert len(set(animals.values())) == 2  # the filter leaves two: the search picks one
    other, other_id = next((cls, i) for i, cls in drawn if cls not in animals.values())
    for image_id, cls in animals.items():  # each, by what it shows
        found = toy_cli.json("search", f"a photo of a {cls}", location, "--tag", "Animal",
                             "--top", "1", model=False)
        assert [r["id"] for r in found] == [str(image_id)], (cls, found)
    unfiltered = toy_cli.json("search", f"a photo of a {other}", location, "--top", "1",
                              model=False)  # without the filter another photo wins
    assert [r["id"] for r in unfiltered] == [str(other_id)], (other, unfiltered)
    wanted_id, wanted = next(iter(animals.items()))
    results = toy_cli.json("search", f"a photo of a {wanted}", location, "--tag", "Animal",
                           "--top", "1", "--save-album", wanted, "--add-keyword", "found",
                           model=False)
    assert [r["id"] for r in results] == [str(wanted_id)]
    assert sql(db, "SELECT name FROM Searches WHERE name LIKE 'photoplug%'") == \
        [(f"photoplug: {wanted}",)]
    assert sql(db, "SELECT i.id FROM ImageTags it JOIN Images i ON i.id = it.imageid "
                   "JOIN Tags t ON t.id = it.tagid WHERE t.name = 'found'") == \
        [(int(results[0]["id"]),)]
    assert sql(db, "PRAGMA integrity_check") == [("ok",)]
    toy_cli("undo", location, model=False)
    assert dump(db) == original


def test_older_and_unknown_versions_are_refused_in_one_line(tmp_path: Path,
                                                            cli: Cli) -> None:
    db = tmp_path / "digikam4.db"
    create_digikam_db(db, 10)
    sql(db, "UPDATE Settings SET value='9' WHERE keyword='DBVersion'")  # digiKam 5.x
    with pytest.raises(LocationError, match=r"version 9; photoplug supports versions 10 to "
                                            r"16 \(digiKam 6\.0 to 8\.x\)$"):
        DigikamAdapter().open(str(db))
    result = cli("index", f"digikam:{db}", check=False)
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    sql(db, "DELETE FROM Settings WHERE keyword='DBVersion'")
    with pytest.raises(LocationError, match="has no digiKam DBVersion setting"):
        DigikamAdapter().open(str(db))


def test_a_newer_version_is_searched_but_never_written(tmp_path: Path, cli: Cli) -> None:
    """A future digiKam (DBVersion 17) that kept the columns photoplug reads."""
    db = tmp_path / "db" / "digikam4.db"
    db.parent.mkdir()
    library_db(db, tmp_path / "pictures")
    sql(db, "UPDATE Settings SET value='17' WHERE keyword IN ('DBVersion', "
            "'DBVersionRequired')")
    before = db.read_bytes()
    library = DigikamAdapter().open(str(db))
    assert len(list(library.scan())) == 12
    assert {int(i) for i in library.select(tags=["Animal"])} == {9, 11}
    for dry_run in (True, False):
        with pytest.raises(LocationError, match=r"version 17, newer than photoplug knows "
                                                r"\(10 to 16\).*does not write to it"):
            library.write(album_plan({"x": ["9"]}), WriteOptions(dry_run=dry_run, force=True))
    location = f"digikam:{db}"
    cli("index", location)
    refused = cli("search", "a photo", location, "--save-album", "x", model=False,
                  check=False)
    assert refused.returncode == 1 and "does not write to it" in refused.stderr
    assert db.read_bytes() == before


def test_a_newer_version_without_a_needed_column_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "digikam4.db"
    shutil.copy(FIXTURES / "digikam8-empty.db", db)
    sql(db, "UPDATE Settings SET value='18' WHERE keyword='DBVersion'")
    sql(db, "ALTER TABLE Images RENAME COLUMN category TO kind")
    with pytest.raises(LocationError, match=r"version 18\) has no Images\.category"):
        DigikamAdapter().open(str(db))
