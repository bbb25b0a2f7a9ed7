"""The darktable adapter, against libraries the real darktable made (headless, Xvfb).

The Lua module in darktable's lighttable is in test_darktable_lua.py.
"""
from __future__ import annotations

import queue
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import psutil
import pytest

from conftest import Cli, album_plan, draw_photo, keyword_plan
from darktable_fixtures import (Darktable, darktable, dump, lua_string,  # noqa: F401
                                made_by_darktable, needs_darktable, rows, tagged)
from photoplug.adapters.darktable import db as darktable_db
from photoplug.adapters.darktable.adapter import DarktableAdapter
from photoplug.adapters.darktable.process import darktable_using
from photoplug.hooks import HostState, LocationError, WriteOptions
from photoplug.plugin_manager import get_plugin_manager
from test_albums import TOY_ALBUMS, toy_vocabulary

pytestmark = needs_darktable
Made = tuple[Darktable, Path, dict[int, str]]


def ids_of(made: Made, *classes: str) -> set[int]:
    found = {i for i, cls in made[2].items() if cls in classes}
    assert found, f"darktable's library has no {classes}"  # never two empty sets compared
    return found


def dumps(darktable: Darktable) -> tuple[list[str], list[str]]:
    return dump(darktable.library), dump(darktable.data)


def photoplug_tags(darktable: Darktable) -> list[str]:
    return [n for (n,) in rows(darktable.data, "SELECT name FROM tags WHERE name LIKE "
                                               "'photoplug|%' ORDER BY name")]


def written_versions(made: Made) -> tuple[int, int]:
    """The library and data.db versions this darktable writes: those of the library it made
    (untouched: tests change copies of it)."""
    darktable = made[0]
    (library,), (data,) = (rows(db, "SELECT value FROM db_info WHERE key = 'version'")
                           for db in (darktable.library, darktable.data))
    return int(library[0]), int(data[0])


class Lines:
    """A pipe's lines as they come (read by a thread): wait for one, with a timeout."""

    def __init__(self, pipe: IO[str]) -> None:
        self.queue: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, args=(pipe,), daemon=True).start()

    def _pump(self, pipe: IO[str]) -> None:
        for line in pipe:
            self.queue.put(line)
        self.queue.put(None)


def next_line_with(lines: Lines, word: str, timeout: float) -> str:
    """The next line holding ``word``; fails loudly when none comes within ``timeout``
    seconds or the pipe ends first."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = lines.queue.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"no line with {word!r} within {timeout:g} s; so far:\n"
                                 f"{''.join(lines.seen)}") from None
        if line is None:
            raise AssertionError(f"the output ended with no line with {word!r}:\n"
                                 f"{''.join(lines.seen)}")
        lines.seen.append(line)
        if word in line:
            return line


def test_scan_lists_darktables_images_read_only(darktable: Darktable, made_by_darktable: Made
                                                ) -> None:
    before = darktable.library.read_bytes(), darktable.data.read_bytes()
    library = DarktableAdapter().open(str(darktable.configdir))
    assert library.uri == f"darktable:{darktable.library}"
    refs = {r.stable_id: r for r in library.scan()}
    pictures = made_by_darktable[1]
    assert set(refs) == {str(i) for i in made_by_darktable[2]}
    first = refs["1"]
    assert first.path == pictures / "blue_triangle_0.jpg" and first.size > 0
    assert first.host_ref == {"imgid": 1, "folder": str(pictures),
                              "filename": "blue_triangle_0.jpg"}
    assert library.roots() == [pictures] and library.offline_roots() == []
    assert DarktableAdapter().open(str(darktable.library)).uri == library.uri
    assert (darktable.library.read_bytes(), darktable.data.read_bytes()) == before

    rows(darktable.library, "UPDATE images SET filename = 'gone.jpg' WHERE id = 2")
    assert "unreadable" in {r.stable_id: r for r in library.scan()}["2"].problem
    rows(darktable.library, "UPDATE film_rolls SET folder = '/media/unplugged/photos'")
    assert all(r.offline for r in library.scan())
    assert library.offline_roots() == ["/media/unplugged/photos: not there"]


def test_filters_from_darktables_own_knowledge(darktable: Darktable, made_by_darktable: Made
                                               ) -> None:
    library = DarktableAdapter().open(str(darktable.configdir))
    by_name = {name: i for i, name in rows(darktable.library, "SELECT id, filename FROM images")}

    def ids(**filters: object) -> set[int]:
        return {int(i) for i in library.select(**filters)}
    assert ids(tags=["places|Paris"]) == {by_name["red_circle_0.jpg"],
                                          by_name["green_circle_0.jpg"]}
    assert ids(tags=["places"]) == ids(tags=["places|Paris"])  # with the tags below it
    assert ids(rating=4) == {by_name["red_square_0.jpg"]}
    assert ids(color_label="red") == {by_name["blue_triangle_0.jpg"]}
    assert ids(since="2024-06-01", until="2024-06-01") == {by_name["yellow_square_1.jpg"]}
    assert ids(album=str(made_by_darktable[1])) == set(by_name.values())
    assert ids(album="/elsewhere") == set()
    with pytest.raises(LocationError, match="no tag places|Rome"):
        library.select(tags=["places|Rome"])
    with pytest.raises(LocationError, match="no pick labels"):
        library.select(pick_label="accepted")


def test_write_idempotent_reversible(darktable: Darktable, made_by_darktable: Made) -> None:
    pm = get_plugin_manager()
    library = DarktableAdapter().open(f"{darktable.configdir}/")
    original = dumps(darktable)
    red = ids_of(made_by_darktable, "red circle")

    beach = album_plan({"Beach|selfies": {str(i) for i in red}})
    dry = pm.hook.photoplug_write(library=library, plan=beach, options=WriteOptions(dry_run=True))
    assert dry.changes == ["create tag photoplug|albums|Beach¦selfies",
                           "tag 2 photos photoplug|albums|Beach¦selfies"]
    assert dumps(darktable) == original
    report = pm.hook.photoplug_write(library=library, plan=beach, options=WriteOptions())
    assert report.changes == dry.changes
    words = keyword_plan({"3": ["bird", "sky/blue"], "4": ["bird"], "999": ["bird"]})
    pm.hook.photoplug_write(library=library, plan=words, options=WriteOptions())
    backups = sorted(darktable.configdir.glob("*.db.photoplug-backup-*"))
    assert len(backups) == 4, "one backup of each database per write"
    assert str(backups[2]) in report.notes[-1] and str(backups[0]) in report.notes[-1]
    assert (dump(backups[2]), dump(backups[0])) == original

    library_after, data_after = dumps(darktable)
    assert set(original[0]) <= set(library_after) and set(original[1]) <= set(data_after)
    assert rows(darktable.library, "PRAGMA integrity_check") == [("ok",)]
    assert photoplug_tags(darktable) == ["photoplug|albums|Beach¦selfies", "photoplug|tags|bird",
                                         "photoplug|tags|mine", "photoplug|tags|sky|blue"]
    assert tagged(darktable, "photoplug|albums|Beach¦selfies") == red
    assert tagged(darktable, "photoplug|tags|bird") == {3, 4}  # 999 is no image of darktable's
    positions = [p for (p,) in rows(darktable.library, "SELECT position FROM tagged_images "
                                                       "ORDER BY rowid")]
    assert positions == sorted(positions) and all(p % (1 << 32) == 0 for p in positions)
    state = library.read_back(HostState({"Beach|selfies": set()}, {"bird": set(), "mine": set()}))
    assert state == HostState({"Beach|selfies": {str(i) for i in red}},
                              {"bird": {"3", "4"}, "mine": {str(min(ids_of(
                                  made_by_darktable, "purple circle")))}})

    again = pm.hook.photoplug_write(library=library, plan=beach, options=WriteOptions())
    assert again.changes == [] and dumps(darktable) == (library_after, data_after)
    assert len(list(darktable.configdir.glob("*.db.photoplug-backup-*"))) == 4

    pm.hook.photoplug_write(library=library, plan=album_plan({"Beach|selfies": {"3", "9"}}),
                            options=WriteOptions())  # membership follows
    assert tagged(darktable, "photoplug|albums|Beach¦selfies") == {3, 9}

    undo = pm.hook.photoplug_undo(library=library, options=WriteOptions())
    assert "remove tag photoplug|tags|bird (2 photos)" in undo.changes
    assert dumps(darktable) == original  # the user's photoplug|tags|mine and places|Paris too
    assert not (darktable.configdir / ".photoplug").exists()


def test_bad_libraries_get_one_line(toy_cli: Cli, darktable: Darktable, made_by_darktable: Made,
                                    tmp_path: Path) -> None:
    def error(location: str, *args: str) -> str:
        result = toy_cli(*args, location, check=False, model=False)
        assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
        return result.stderr
    corrupt = tmp_path / "corrupt" / "library.db"
    corrupt.parent.mkdir()
    corrupt.write_bytes(b"not a database, " * 100)
    shutil.copy(darktable.data, corrupt.with_name("data.db"))
    assert "is not a darktable library (library.db)" in error(f"darktable:{corrupt}", "index")
    assert "does not exist" in error(f"darktable:{tmp_path / 'none' / 'library.db'}", "index")
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    shutil.copy(darktable.library, lonely / "library.db")
    assert "data.db does not exist" in error(f"darktable:{lonely}", "index")

    rows(darktable.library, "UPDATE db_info SET value = '29' WHERE key = 'version'")
    assert "version 29; photoplug reads versions 30 and newer" in error(darktable.location,
                                                                         "index")
    rows(darktable.library, "UPDATE db_info SET value = '99' WHERE key = 'version'")
    assert toy_cli.json("index", darktable.location)["new"] == 12  # read...
    found = toy_cli.json("search", "a photo of a red circle", darktable.location, "--top", "2",
                         model=False)  # ...and searched
    assert {int(r["id"]) for r in found} == ids_of(made_by_darktable, "red circle")
    before = dumps(darktable)
    message = error(darktable.location, "undo")
    assert "version 99 (data.db 9), newer than photoplug knows" in message
    assert "Lua module" in message
    with pytest.raises(LocationError, match="newer than photoplug knows"):
        DarktableAdapter().open(darktable.location[10:]).write(album_plan({"x": {"1"}}),
                                                                WriteOptions())
    assert dumps(darktable) == before


def test_a_locked_database_is_one_line(darktable: Darktable, monkeypatch) -> None:
    monkeypatch.setattr(darktable_db, "BUSY_SECONDS", 0.1)
    holder = subprocess.Popen([sys.executable, "-c", "import sqlite3, sys; db = sqlite3.connect("
                               "sys.argv[1], isolation_level=None); db.execute('BEGIN EXCLUSIVE');"
                               " print('held', flush=True); sys.stdin.read()",
                               str(darktable.library)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LocationError, match="is locked by another program"):
            DarktableAdapter().open(str(darktable.configdir))
    finally:
        holder.stdin.close()
        holder.wait()


def fake_darktable(tmp_path: Path, name: str = "darktable") -> subprocess.Popen[bytes]:
    """A process called ``name`` (a copy of ``sleep``)."""
    exe = tmp_path / "bin" / name
    exe.parent.mkdir(exist_ok=True)
    shutil.copy(shutil.which("sleep"), exe)
    return subprocess.Popen([str(exe), "600"])


def test_a_running_darktable_blocks_writes_until_it_closes(toy_cli: Cli, darktable: Darktable,
                                                           tmp_path: Path) -> None:
    """darktable's lock files name its process; --wait writes once it has quit."""
    lock = darktable.library.with_name("library.db.lock")
    toy_cli("index", darktable.location)
    other = fake_darktable(tmp_path, "gimp")
    running = fake_darktable(tmp_path)
    try:
        lock.write_text(f"{other.pid}\n")  # a process id reused by another program: stale
        assert darktable_using([darktable.library]) is None
        lock.write_bytes(f"{running.pid}\0".encode())  # as darktable writes it
        assert psutil.Process(running.pid).name() == "darktable"
        before = dumps(darktable)
        refused = toy_cli("search", "a photo", darktable.location, "--save-album", "x",
                          check=False, model=False)
        assert refused.returncode == 1 and (
            f"\nphotoplug: error: darktable (pid {running.pid}) has {darktable.library} open: "
            f"close it first") in f"\n{refused.stderr}"
        assert dumps(darktable) == before
        writer = subprocess.Popen([str(Path(sys.executable).with_name("photoplug")), "search",
                                   "a photo", darktable.location, "--save-album", "x", "--wait"],
                                  stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                                  env=toy_cli.env)
        try:
            said = Lines(writer.stderr)
            waiting = next_line_with(said, "waiting", timeout=120)
            assert waiting == f"darktable (pid {running.pid}) has {darktable.library} open: " \
                              f"waiting for it to close…\n"
            assert writer.poll() is None and dumps(darktable) == before
            running.kill()  # darktable quits (a crash leaves its lock: that counts as closed)
            running.wait()
            assert writer.wait(timeout=120) == 0, "".join(said.seen)
        finally:
            if writer.poll() is None:
                writer.kill()
            writer.wait()
    finally:
        for proc in (other, running):
            proc.kill()
            proc.wait()
    assert photoplug_tags(darktable) == ["photoplug|albums|x", "photoplug|tags|mine"]


def test_index_search_write_undo_from_the_cli(toy_cli: Cli, darktable: Darktable,
                                              made_by_darktable: Made) -> None:
    original = dumps(darktable)
    location = darktable.location
    assert toy_cli.json("index", location)["new"] == 12
    results = toy_cli.json("search", "a photo of a red circle", location, "--top", "2",
                           "--save-album", "reds", "--add-keyword", "red", model=False)
    assert {int(r["id"]) for r in results} == ids_of(made_by_darktable, "red circle")
    assert results[0]["location"] == f"darktable:{darktable.library}"
    assert results[0]["host_ref"]["imgid"] == int(results[0]["id"])
    assert len(list(darktable.configdir.glob("*.db.photoplug-backup-*"))) == 2  # one command
    assert tagged(darktable, "photoplug|albums|reds") == \
        tagged(darktable, "photoplug|tags|red") == ids_of(made_by_darktable, "red circle")
    status = toy_cli("status", location, model=False).stdout
    library_version, data_version = written_versions(made_by_darktable)
    assert f"darktable library version {library_version} (data.db {data_version})" in status
    toy_cli("undo", location, model=False)
    assert dumps(darktable) == original


def test_writes_survive_darktable_and_its_corrections_win(
        toy_cli: Cli, darktable: Darktable, made_by_darktable: Made, tmp_path: Path) -> None:
    """darktable's next start keeps photoplug's tags (and writes them into its XMP
    sidecars); a photo the user takes out of an album in darktable stays out."""
    albums = tmp_path / "albums.toml"
    albums.write_text(TOY_ALBUMS)
    vocabulary = tmp_path / "toy.txt"
    vocabulary.write_text(toy_vocabulary())
    sync = ["albums", "sync", darktable.location, "--albums", str(albums), "--vocabulary",
            str(vocabulary), "--only-mine"]
    before = {t: rows(darktable.library if t == "tagged_images" else darktable.data,
                      f"SELECT * FROM {t} ORDER BY 1, 2") for t in ("tags", "tagged_images")}
    toy_cli(*sync)
    red = ids_of(made_by_darktable, "red circle", "red square")
    assert tagged(darktable, "photoplug|albums|red things") == red
    names = dict(rows(darktable.library, "SELECT id, filename FROM images"))
    out = min(ids_of(made_by_darktable, "red square"))

    seen = darktable.run(f"""local dt = require "darktable"
local image = dt.database.get_image({min(red)})
local names = {{}}
for _, tag in ipairs(dt.tags.get_tags(image)) do names[#names + 1] = tag.name end
table.sort(names)
-- the user takes a photo out of photoplug's album, and tags every photo "trip"
dt.tags.detach(dt.tags.find("photoplug|albums|red things"), dt.database.get_image({out}))
local trip = dt.tags.create("trip")
for _, each in ipairs(dt.database) do dt.tags.attach(trip, each) end
return table.concat(names, ";")
""")
    assert "photoplug|albums|red things" in seen.split(";")
    sidecar = (made_by_darktable[1] / f"{names[min(red)]}.xmp").read_text()
    assert "<rdf:li>photoplug|albums|red things</rdf:li>" in sidecar  # darktable wrote it
    assert tagged(darktable, "photoplug|albums|red things") == red - {out}
    assert tagged(darktable, "trip") == set(names)

    again = toy_cli(*sync, model=False)
    assert "1 photos you took out stay out" in again.stderr
    now = tagged(darktable, "photoplug|albums|red things")  # its twin may go with it
    assert ids_of(made_by_darktable, "red circle") <= now <= red - {out}

    toy_cli("undo", darktable.location, model=False)
    assert photoplug_tags(darktable) == ["photoplug|tags|mine"]
    after = {t: rows(darktable.library if t == "tagged_images" else darktable.data,
                     f"SELECT * FROM {t} ORDER BY 1, 2") for t in ("tags", "tagged_images")}
    trip = rows(darktable.data, "SELECT id FROM tags WHERE name = 'trip'")[0][0]
    assert after["tags"] == before["tags"] + [(trip, "trip", None, None)]
    assert [r for r in after["tagged_images"] if r[1] != trip] == before["tagged_images"]


def test_duplicates_mark_others_rejected_as_darktable_shows_it(
        toy_cli: Cli, darktable: Darktable, tmp_path: Path) -> None:
    """A photo and two copies imported by darktable (one rated 3 stars by the user): the
    copies show rejected in darktable after `duplicates --mark-others rejected`; the user
    takes the reject off one, which a re-run keeps; after undo the other shows its three
    stars again."""
    from PIL import Image
    shots = tmp_path / "shots"
    original = draw_photo(shots / "original.jpg", "red", "circle", seed=901, size=(640, 480))
    Image.open(original).resize((320, 240)).save(shots / "small.jpg", quality=80)
    Image.open(original).save(shots / "recompressed.jpg", quality=60)
    imported = darktable.run(f"""local dt = require "darktable"
local ids = {{}}
for _, name in ipairs({{"original.jpg", "small.jpg", "recompressed.jpg"}}) do
  local image = dt.database.import({lua_string(str(shots))} .. "/" .. name)
  ids[#ids + 1] = image.id
end
dt.database.get_image(ids[2]).rating = 3
return table.concat(ids, " ")
""", repeatable=True)
    original_id, small, recompressed = (int(i) for i in imported.split())
    show = f"""local dt = require "darktable"
local out = {{}}
for _, id in ipairs({{{original_id}, {small}, {recompressed}}}) do
  out[#out + 1] = tostring(dt.database.get_image(id).rating)
end
return table.concat(out, " ")
"""
    toy_cli("index", darktable.location)
    groups = toy_cli.json("duplicates", darktable.location, "--write", "--mark-others",
                          "rejected", model=False)
    mine = [g for g in groups if str(original_id) in {m["id"] for m in g["members"]}]
    assert [sorted(int(m["id"]) for m in g["members"]) for g in mine] == \
        [sorted([original_id, small, recompressed])]
    assert [m["id"] for m in mine[0]["members"] if m["keep"]] == [str(original_id)]
    assert darktable.run(show) == "1 -1 -1"  # both copies rejected (1 star: darktable's default)

    darktable.run(f"""local dt = require "darktable"
dt.database.get_image({recompressed}).rating = 1 -- the user keeps this one after all
""")
    again = toy_cli("duplicates", darktable.location, "--write", "--mark-others", "rejected",
                    model=False)
    assert "1 photos you took photoplug's reject off stay as you left them" in again.stderr
    assert darktable.run(show) == "1 -1 1"
    toy_cli("undo", darktable.location, model=False)
    assert darktable.run(show) == "1 3 1"  # the stars the user gave are back
