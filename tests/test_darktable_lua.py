"""photoplug's Lua module inside the real darktable (headless), and its installer.

The module's functions are called from a Lua snippet (there is no clicking headless);
what they did is read back from darktable's databases after darktable has quit.
"""
from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

from conftest import Cli, draw_photo
from darktable_fixtures import (Darktable, darktable, logged_photoplug, lua_string,  # noqa: F401
                                made_by_darktable, needs_darktable, rows, tag_links, tagged)
from photoplug.adapters.darktable.db import tag_name
from photoplug.adapters.darktable.lua_module import REQUIRE, install, uninstall
from test_albums import TOY_ALBUMS, toy_vocabulary

Made = tuple[Darktable, Path, dict[int, str]]
PHOTOPLUG = str(Path(sys.executable).with_name("photoplug"))


def ids_of(made: Made, cls: str) -> set[int]:
    return {i for i, c in made[2].items() if c == cls}


def test_install_once_and_uninstall_exactly(tmp_path: Path, cli: Cli) -> None:
    configdir = tmp_path / "darktable"
    configdir.mkdir()
    luarc = configdir / "luarc"
    luarc.write_text('require "tools/script_manager"')  # the user's, without a final newline
    done = cli("darktable", "install", "--configdir", str(configdir), model=False)
    script = configdir / "lua" / "photoplug.lua"
    assert f"wrote {script}" in done.stderr
    assert luarc.read_text() == f'require "tools/script_manager"\n{REQUIRE}\n'
    assert f"local DEFAULT_EXECUTABLE = {json.dumps(PHOTOPLUG)}" in script.read_text()
    again = cli("darktable", "install", "--configdir", str(configdir), model=False)
    assert "already installed" in again.stderr and luarc.read_text().count(REQUIRE) == 1

    cli("darktable", "uninstall", "--configdir", str(configdir), model=False)
    assert luarc.read_text() == 'require "tools/script_manager"\n'
    assert not (configdir / "lua").exists()
    assert "not installed" in cli("darktable", "uninstall", "--configdir", str(configdir),
                                  model=False).stderr

    fresh = tmp_path / "fresh"  # no luarc, no lua/: both made, both gone again
    install(fresh, executable="/opt/photo plug/bin/photoplug")
    assert (fresh / "luarc").read_text() == f"{REQUIRE}\n"
    assert 'DEFAULT_EXECUTABLE = "/opt/photo plug/bin/photoplug"' in \
        (fresh / "lua" / "photoplug.lua").read_text()
    uninstall(fresh)
    assert list(fresh.iterdir()) == []

    (fresh / "lua").mkdir()
    (fresh / "lua" / "photoplug.lua").write_text("-- someone else's\n")
    refused = cli("darktable", "install", "--configdir", str(fresh), model=False, check=False)
    assert refused.returncode == 1 and "is not photoplug's module" in refused.stderr


def installed(darktable: Darktable, toy_cli: Cli) -> dict[str, str]:
    """The module installed into ``darktable``'s config folder and its library indexed
    with toy-clip; the environment photoplug needs inside darktable (a vocabulary of the
    words toy-clip knows, for telling good matches from weak ones)."""
    install(darktable.configdir)
    toy_cli("index", darktable.location)
    vocabulary = darktable.root / "toy-vocabulary.txt"
    vocabulary.write_text(toy_vocabulary())
    return {"PHOTOPLUG_INDEX": str(toy_cli.index), "PHOTOPLUG_VOCABULARY": str(vocabulary),
            "PHOTOPLUG_ONLY_MINE": "1"}


@needs_darktable
def test_the_module_shows_the_good_matches_inside_darktable(
        toy_cli: Cli, darktable: Darktable, made_by_darktable: Made) -> None:
    env = installed(darktable, toy_cli)
    green = min(ids_of(made_by_darktable, "green circle"))
    out = darktable.run(f"""local dt = require "darktable"
local pp = require "photoplug"
local found = pp.search("a photo of a red circle")
local first, ranked = pp.message, dt.gui.libs.photoplug ~= nil
local best = dt.gui.selection()[1]
local listed = {{}}
for _, r in ipairs(pp.ranked) do listed[#listed + 1] = r.path:match("[^/]+$") end
local cat = pp.search("a photo of a cat")
local cat_message, after_cat = pp.message, dt.gui.libs.collect.filter()[1].data
local like = pp.more_like_this(dt.database.get_image({green}))
return table.concat({{tostring(ranked), tostring(found), first, best.filename,
                      table.concat(listed, ","), tostring(cat), cat_message, after_cat,
                      tostring(like), pp.message, dt.gui.libs.collect.filter()[1].data}}, "\\n")
""", env=env)
    (shown, found, first, best, listed, cat, cat_message, after_cat, like, message,
     collection) = out.split("\n")
    red_circles = ids_of(made_by_darktable, "red circle")
    assert shown == "true", "the module is in the lighttable"
    assert found == "2" and first.startswith("2 good matches (best 0.")
    assert first.endswith("): photoplug|search|a photo of a red circle")
    assert tagged(darktable, "photoplug|search|a photo of a red circle") == red_circles
    assert best.startswith("red_circle_"), "the best match is selected"
    assert [n.rsplit("_", 1)[0] for n in listed.split(",")] == ["red_circle"] * 2
    assert (cat, cat_message) == ("0", "no good match for a photo of a cat: the collection "
                                       "is unchanged")
    assert after_cat == "photoplug|search|a photo of a red circle", "the collection stays"
    assert not tagged(darktable, "photoplug|search|a photo of a cat")
    (filename,), = rows(darktable.library, "SELECT filename FROM images WHERE id = ?", green)
    name = f"photoplug|search|like {filename}"
    assert like == "2" and message.endswith(f": {name}")
    assert tagged(darktable, name) == ids_of(made_by_darktable, "green circle")
    assert collection == name  # the lighttable shows it

    assert (darktable.configdir / ".photoplug" / "library.db.searches").exists()
    toy_cli("undo", darktable.location, model=False)  # the module's tags are photoplug's
    assert not (darktable.configdir / ".photoplug" / "library.db.searches").exists()
    assert [n for (n,) in rows(darktable.data, "SELECT name FROM tags WHERE name LIKE "
                                               "'photoplug|%'")] == ["photoplug|tags|mine"]


@needs_darktable
def test_weaker_matches_extend_the_collection_still_ranked(
        toy_cli: Cli, darktable: Darktable, made_by_darktable: Made) -> None:
    env = installed(darktable, toy_cli)
    out = darktable.run("""local dt = require "darktable"
local pp = require "photoplug"
dt.preferences.write("photoplug", "weaker", "bool", true)
dt.preferences.write("photoplug", "top", "integer", 5)
local found = pp.search("a photo of a red circle")
local matches = {}
for _, r in ipairs(pp.ranked) do matches[#matches + 1] = r.match end
return table.concat({tostring(found), pp.message, table.concat(matches, ",")}, "\\n")
""", env=env)
    found, message, matches = out.split("\n")
    assert found == "5" and message.startswith("2 good matches, 3 weaker (best 0.")
    assert matches == "good,good,weak,weak,weak"
    assert ids_of(made_by_darktable, "red circle") < \
        tagged(darktable, "photoplug|search|a photo of a red circle")


@needs_darktable
def test_smart_albums_sync_inside_darktable_and_corrections_win(
        toy_cli: Cli, darktable: Darktable, made_by_darktable: Made) -> None:
    """photoplug decides, darktable writes (through the handoff), photoplug's ledger
    records it; a photo taken out in darktable stays out; photoplug itself does not write
    into a running darktable's library."""
    env = installed(darktable, toy_cli)
    config = darktable.home / ".config" / "photoplug"
    config.mkdir(parents=True)
    (config / "albums.toml").write_text(TOY_ALBUMS)
    red_squares = ids_of(made_by_darktable, "red square")
    out_id = min(red_squares)
    direct = shlex.join([PHOTOPLUG, "search", "a photo", darktable.location, "--save-album",
                         "direct"])
    out = darktable.run(f"""local dt = require "darktable"
local pp = require "photoplug"
pp.sync_albums()
local first = pp.message
local album = dt.tags.find("photoplug|albums|red things")
local members = #dt.tags.get_tagged_images(album)
dt.tags.detach(album, dt.database.get_image({out_id}))
pp.sync_albums()
local direct = io.popen({lua_string(direct + " 2>&1")})
local refused = direct:read("a"):match("photoplug: error: ([^\\n]*)")
direct:close()
return table.concat({{first, tostring(members), pp.message, refused}}, "\\n")
""", env=env)
    first, members, second, refused = out.split("\n")
    assert first.startswith("2 albums synced") and int(members) >= 2
    assert second.startswith("2 albums synced")
    assert refused.startswith("darktable (pid ") and f"has {darktable.library} open" in refused
    album = tagged(darktable, "photoplug|albums|red things")
    assert out_id not in album and ids_of(made_by_darktable, "red circle") <= album
    assert tagged(darktable, "photoplug|albums|direct") == set()

    sync = ["albums", "sync", darktable.location, "--json"]
    home = {"XDG_CONFIG_HOME": str(darktable.home / ".config"),  # and the same vocabulary
            **{k: v for k, v in env.items() if k.startswith("PHOTOPLUG_")}}
    check = toy_cli(*sync, "--dry-run", model=False, env=home)
    assert "nothing to change" in check.stderr  # the ledger knows what darktable wrote
    assert "red things: 1 photos you took out stay out" in check.stderr
    listed = {a["album"]: {int(m["id"]) for m in a["members"]} for a in json.loads(check.stdout)}
    assert listed["red things"] == album
    assert listed["circles"] == tagged(darktable, "photoplug|albums|circles")


@needs_darktable
def test_every_argument_reaches_photoplug_unchanged(darktable: Darktable,
                                                    tmp_path: Path) -> None:
    """Quotes, $(…), backticks, ; and line breaks in a query run nothing; photoplug's
    errors show as darktable messages."""
    install(darktable.configdir)
    log, pwned = tmp_path / "argv.jsonl", tmp_path / "pwned"
    fake = tmp_path / "fake photoplug"
    fake.write_text(f"#!{sys.executable}\nimport json, sys\n"
                    f"open({str(log)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
                    "if 'fail' in sys.argv:\n"
                    "    sys.exit('photoplug: error: the index is on holiday')\n"
                    "print('[]')\n")
    fake.chmod(0o755)
    nasty = (f"it's \"red\" $(touch {pwned}1) `touch {pwned}2`; touch {pwned}3 && x | y > z\n"
             f"touch {pwned}4 \\ $HOME %PATH% '\"'")
    out = darktable.run(f"""local dt = require "darktable"
local pp = require "photoplug"
dt.preferences.write("photoplug", "executable", "string", {lua_string(str(fake))})
pp.search({lua_string(nasty)})
local first = pp.message
pp.search("--help")
pp.search("fail")
local failed = pp.message
dt.preferences.write("photoplug", "executable", "string", "/nonexistent/photoplug")
pp.search("anything")
return table.concat({{first, failed, pp.message}}, "\\n")
""")
    first, failed, missing = out.split("\n")
    location = f"darktable:{darktable.library}"
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    search = ["search", "--json", "--all-frames", "--top", "50", "--good-only", "--"]
    assert calls[:2] == [["index", location], [*search, nasty, location]]
    assert calls[3] == [*search, "--help", location]
    assert not list(tmp_path.glob("pwned*"))
    one_line = nasty.replace("\n", " ")
    assert first == f"no good match for {one_line}: the collection is unchanged"
    tag = tag_name("search", nasty)  # no good match: no tag made
    assert not rows(darktable.data, "SELECT name FROM tags WHERE name = ?", tag)
    assert failed == "the index is on holiday"
    assert missing == "/nonexistent/photoplug not found: set its path in preferences > " \
                      "lua options"


@needs_darktable
def test_a_library_of_500_drawings_keeps_the_same_answers(toy_cli: Cli, tmp_path: Path
                                                           ) -> None:
    """darktable imports 504 drawings (28 of each of toy-clip's 18 classes); the module's
    search still holds the red circles, and next to nothing else."""
    from conftest import CLASSES, draw_photo
    pictures = tmp_path / "pictures"
    for n, (colour, shape) in enumerate(CLASSES):
        for k in range(28):
            draw_photo(pictures / f"{colour}_{shape}_{k:02}.jpg", colour, shape,
                       seed=9000 + 100 * n + k, size=(128, 96))
    big = Darktable(tmp_path / "darktable")
    files = sorted(pictures.iterdir())
    for start in range(0, len(files), 126):  # darktable imports one file at a time
        paths = ", ".join(lua_string(str(p)) for p in files[start:start + 126])
        assert big.run(f"""local dt = require "darktable"
for _, path in ipairs({{{paths}}}) do dt.database.import(path) end
return #dt.database""", repeatable=True) == str(min(start + 126, len(files))), big.log
    env = installed(big, toy_cli)
    found = big.run("""local dt = require "darktable"
local pp = require "photoplug"
return tostring(pp.search("a photo of a red circle")) .. "\\n" .. pp.message""", env=env)
    count, message = found.split("\n")
    names = dict(rows(big.library, "SELECT id, filename FROM images"))
    shown = {names[i] for i in tagged(big, "photoplug|search|a photo of a red circle")}
    red = {name for name in shown if name.startswith("red_circle_")}
    assert len(red) >= 0.95 * 28 and len(red) >= 0.95 * len(shown), (len(red), len(shown))
    assert int(count) == len(shown) and message.startswith(f"{count} good matches")


WAIT_FOR_MESSAGE = """local function wait_for(pattern) -- the module's message, in the run's bound
  for _i = 1, 1000 do
    if pp.message:match(pattern) then return pp.message end
    dt.control.sleep(100)
  end
  return "no such message; last: " .. pp.message
end
local function lines(path)
  local count = 0
  for _line in io.lines(path) do count = count + 1 end
  return count
end
"""


@needs_darktable
def test_new_imports_are_indexed_and_tagged_in_one_run_each(
        toy_cli: Cli, darktable: Darktable, tmp_path: Path) -> None:
    """darktable imports a folder (its own Lua import: images, then the film event) and
    then single files (no film event): each import is one photoplug run, after the import
    has returned; the new images get their keywords and smart albums in darktable's
    library and are in the index. An import made with the option off is not queued."""
    env = installed(darktable, toy_cli)
    config = darktable.home / ".config" / "photoplug"
    config.mkdir(parents=True)
    (config / "albums.toml").write_text(TOY_ALBUMS)
    logged, log = logged_photoplug(tmp_path / "wrapper", PHOTOPLUG)
    new = tmp_path / "new"
    for n, (colour, shape) in enumerate([("red", "circle"), ("green", "circle"),
                                         ("blue", "triangle")]):
        draw_photo(new / f"new_{colour}_{shape}.jpg", colour, shape, seed=700 + n,
                   size=(320, 240))
    off = draw_photo(tmp_path / "more" / "off_yellow_square.jpg", "yellow", "square",
                     seed=710, size=(320, 240))
    on = draw_photo(tmp_path / "more" / "on_red_square.jpg", "red", "square", seed=711,
                    size=(320, 240))
    out = darktable.run(f"""local dt = require "darktable"
local pp = require "photoplug"
{WAIT_FOR_MESSAGE}
dt.preferences.write("photoplug", "executable", "string", {lua_string(str(logged))})
local on_by_default = tostring(dt.preferences.read("photoplug", "on_import", "bool"))
dt.database.import({lua_string(str(new))})
local first = wait_for("^new photos indexed")
pp.message = ""
dt.preferences.write("photoplug", "on_import", "bool", false)
dt.database.import({lua_string(str(off))})
dt.preferences.write("photoplug", "on_import", "bool", true)
dt.database.import({lua_string(str(on))})
local calls_after_import = lines({lua_string(str(log))})
local second = wait_for("^new photos indexed")
return table.concat({{on_by_default, first, tostring(calls_after_import), second}}, "\\n")
""", env=env)
    on_by_default, first, calls_after_import, second = out.split("\n")
    assert on_by_default == "true"
    assert first.startswith("new photos indexed: 3 (") and second.startswith(
        "new photos indexed: 1 ("), (first, second)
    location = f"darktable:{darktable.library}"
    handoff = ["--handoff", "FILE"]  # the writes come back to darktable through a file
    run = [["index", location], ["tag", location, *handoff],
           ["albums", "sync", location, *handoff]]
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert [c[:-1] + ["FILE"] if c[-2:-1] == ["--handoff"] else c for c in calls] == run + run
    assert calls_after_import == "3", "the single-file import returned before photoplug ran"

    ids = dict(rows(darktable.library, "SELECT filename, id FROM images WHERE filename "
                                       "LIKE 'new_%' OR filename LIKE 'o%_%'"))
    assert len(ids) == 5
    assert {ids["new_red_circle.jpg"], ids["on_red_square.jpg"]} <= \
        tagged(darktable, "photoplug|albums|red things")
    assert {ids["new_red_circle.jpg"], ids["new_green_circle.jpg"]} <= \
        tagged(darktable, "photoplug|albums|circles")
    keywords = {}
    for name, image in tag_links(darktable):
        if name.startswith("photoplug|tags|"):
            keywords.setdefault(image, set()).add(name.removeprefix("photoplug|tags|"))
    assert "red" in keywords[ids["new_red_circle.jpg"]] and \
        "blue" in keywords[ids["new_blue_triangle.jpg"]], keywords
    assert "red" in keywords[ids["on_red_square.jpg"]], keywords
    indexed = {int(i) for (i,) in rows(toy_cli.index, "SELECT p.stable_id FROM photos p JOIN "
                                                      "embeddings e ON e.hash = p.hash WHERE "
                                                      "p.status = 'ok'")}
    assert set(ids.values()) <= indexed


@needs_darktable
def test_only_the_latest_searches_keep_their_tags(
        toy_cli: Cli, darktable: Darktable, made_by_darktable: Made) -> None:
    """With 3 searches kept, after 6 searches (one of them again) only the 3 latest keep
    their tags photoplug|search|…; keywords, albums, the user's own tags (one of them
    under photoplug|search|) are untouched."""
    env = installed(darktable, toy_cli)
    toy_cli("tag", darktable.location, model=False, env=env)  # photoplug's keywords
    kept = {(n, i) for n, i in tag_links(darktable) if not n.startswith("darktable|")}
    assert any(n.startswith("photoplug|tags|") for n, _ in kept)
    red, green, blue, yellow, purple = (f"a photo of a {c}" for c in (
        "red circle", "green circle", "blue triangle", "yellow square", "purple circle"))
    first = min(made_by_darktable[2])
    out = darktable.run(f"""local dt = require "darktable"
local pp = require "photoplug"
dt.tags.attach(dt.tags.create("photoplug|search|my own"), dt.database.get_image({first}))
dt.preferences.write("photoplug", "searches", "integer", 3)
local found = {{}}
for _, query in ipairs({{"{red}", "{green}", "{blue}", "{red}", "{yellow}", "{purple}"}}) do
  found[#found + 1] = tostring(pp.search(query))
end
return table.concat(found, ",")
""", env=env)
    assert "0" not in out.split(","), f"every search finds something: {out}"
    links = tag_links(darktable)
    searches = {name for name, _ in links if name.startswith("photoplug|search|")}
    assert searches == {f"photoplug|search|{q}" for q in (red, yellow, purple)} | \
        {"photoplug|search|my own"}
    assert tagged(darktable, f"photoplug|search|{red}") == ids_of(made_by_darktable,
                                                                  "red circle")
    assert not rows(darktable.data, "SELECT id FROM tags WHERE name = ?",
                    f"photoplug|search|{green}"), "the tag itself is gone"
    latest = darktable.configdir / ".photoplug" / "library.db.searches"
    assert latest.read_text().splitlines() == [f"photoplug|search|{q}"
                                               for q in (red, yellow, purple)]
    assert {(n, i) for n, i in links if not n.startswith(("photoplug|search|", "darktable|"))
            } == kept, "keywords, albums and the user's tags are as they were"


@needs_darktable
def test_find_duplicates_shows_the_groups_and_selects_the_copy_to_keep(
        toy_cli: Cli, darktable: Darktable, made_by_darktable: Made, tmp_path: Path) -> None:
    """A photo and two copies (half size; recompressed) imported among the drawings: the
    module's "find duplicates" tags one group, lists it, shows it as the collection with
    the original selected; choosing the group alone says why that copy; `undo` takes the
    tags off. The drawings (two of each class, drawn apart) group with nothing."""
    from PIL import Image
    shots = tmp_path / "shots"
    original = draw_photo(shots / "original.jpg", "red", "circle", seed=901, size=(640, 480))
    Image.open(original).resize((320, 240)).save(shots / "small.jpg", quality=80)
    Image.open(original).save(shots / "recompressed.jpg", quality=60)
    names = ["original.jpg", "small.jpg", "recompressed.jpg"]
    ids = [int(i) for i in darktable.run(f"""local dt = require "darktable"
local ids = {{}}
for _, name in ipairs({{"{'", "'.join(names)}"}}) do
  ids[#ids + 1] = dt.database.import({lua_string(str(shots))} .. "/" .. name).id
end
return table.concat(ids, " ")""", repeatable=True).split()]
    env = installed(darktable, toy_cli)
    out = darktable.run("""local dt = require "darktable"
local pp = require "photoplug"
local function picked()
  local names = {}
  for _, image in ipairs(dt.gui.selection()) do names[#names + 1] = image.filename end
  table.sort(names)
  return table.concat(names, ",")
end
local found = pp.find_duplicates()
local all = {tostring(found), pp.message, dt.gui.libs.collect.filter()[1].data, picked()}
local choice = pp.widgets.groups
local entries = {}
for i = 1, #choice do entries[#entries + 1] = choice[i] end
local one = pp.show_group(1)
return table.concat(all, "\\n") .. "\\n" .. table.concat(entries, ";") .. "\\n" ..
  table.concat({tostring(one), pp.message, dt.gui.libs.collect.filter()[1].data, picked()},
               "\\n")""", env=env)
    (found, message, rule, selected, entries, one, one_message, one_rule,
     one_selected) = out.split("\n")
    group = rows(darktable.data, "SELECT name FROM tags WHERE name LIKE "
                                 "'photoplug|tags|duplicates|group-%'")
    assert len(group) == 1, group
    name = group[0][0]
    assert tagged(darktable, name) == set(ids), "the photo and its two copies, nothing else"
    assert tagged(darktable, "photoplug|tags|duplicates|suggested-keep") == {ids[0]}
    assert found == "1" and message == "1 group of near-identical photos, 2 copies besides " \
                                       "the one to keep (selected)"
    assert rule == "photoplug|tags|duplicates|%" and selected == "original.jpg"
    short = name.rsplit("|", 1)[1]
    assert entries == f"the one group;{short}: keep original.jpg + 2"
    assert one == "3" and one_message.startswith("3 photos of one shot; keep original.jpg: ")
    assert one_rule == name and one_selected == "original.jpg"

    toy_cli("undo", darktable.location, model=False)
    assert not tagged(darktable, name)
