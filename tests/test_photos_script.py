"""The AppleScript for Photos: golden files, and escaping that no name can break out of."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from photoplug.adapters.apple_export.photos_plan import PhotosPlan, PlannedPhoto
from photoplug.adapters.apple_export.photos_script import apply_script, text_literal, undo_script

GOLDEN = Path(__file__).parent / "golden"
UUID = "A1B2C3D4-0000-4000-8000-00000000000A"
HOSTILE = [
    'say "hi"', "back\\slash", 'end" & (do shell script "rm -rf ~") & "', "line\nbreak",
    "cr\rtab\t", "nul\0byte", "café été", "写真 🏖️ beach", "-- not a comment", "(*x*)",
    "\\\"", "", " ", "\u202eevil", "¬ continuation",
]


def golden_plan() -> PhotosPlan:
    photos = {
        UUID: PlannedPhoto(UUID, "IMG_0001.HEIC", None, ("2024/06/01/IMG_0001.HEIC",)),
        "2024/IMG_0002.JPG": PlannedPhoto(None, "IMG_0002.JPG", "2024-06-01T12:34:56",
                                          ("2024/IMG_0002.JPG",)),
        "Trips/été.png": PlannedPhoto(None, "été.png", None, ("Trips/été.png",)),
    }
    return PhotosPlan(
        photos,
        keywords={UUID: ["photoplug/beach", "photoplug/sunset"],
                  "2024/IMG_0002.JPG": ["photoplug/beach"]},
        albums={"beach selfies": [UUID, "2024/IMG_0002.JPG"], "Étés": ["Trips/été.png"]},
        removed={"2024/IMG_0002.JPG": ["photoplug/sunset"]},  # re-tagging took it off
    )


@pytest.mark.parametrize("render,name", [(apply_script, "photos-apply.applescript"),
                                         (undo_script, "photos-undo.applescript")])
def test_scripts_match_golden_files(render, name: str) -> None:
    assert render(golden_plan(), "photoplug.applescript") == \
        (GOLDEN / name).read_text(encoding="ascii")


# -- a reader for the only AppleScript the data lines may contain ---------------------

_TOKEN = re.compile(r'\s*(?:(?P<text>"(?:[^"\\\n\r]|\\["\\])*")|(?P<chars>\(character id '
                    r'(?:\d+|\{\d+(?:, \d+)*\})\))|(?P<int>-?\d+)|(?P<sym>[{},&]))')


def read_value(source: str, pos: int = 0) -> tuple[object, int]:
    """Parse one value (text built by ``&``, a number, or a list) at ``pos``; anything
    else in the source raises, so a literal that leaked code is caught."""
    def token(at: int) -> re.Match[str]:
        match = _TOKEN.match(source, at)
        if not match:
            raise ValueError(f"not a value at {source[at:at + 40]!r}")
        return match

    match = token(pos)
    if match["sym"] == "{":
        items: list[object] = []
        if token(match.end())["sym"] == "}":
            return items, token(match.end()).end()
        pos = match.end()
        while True:
            item, pos = read_value(source, pos)
            items.append(item)
            sep = token(pos)
            if sep["sym"] == "}":
                return items, sep.end()
            if sep["sym"] != ",":
                raise ValueError(f"expected , or }} at {source[pos:pos + 40]!r}")
            pos = sep.end()
    if match["int"]:
        return int(match["int"]), match.end()
    text = ""
    while True:
        if match["text"]:
            text += re.sub(r'\\(["\\])', r"\1", match["text"][1:-1])
        elif match["chars"]:
            text += "".join(chr(int(n)) for n in re.findall(r"\d+", match["chars"]))
        else:
            raise ValueError(f"not text at {source[pos:pos + 40]!r}")
        pos = match.end()
        after = _TOKEN.match(source, pos)
        if not after or after["sym"] != "&":
            return text, pos
        match = token(after.end())


_STATEMENTS = re.compile(r"^\t(?:my addKeywords\((?P<kw>.*)\)|my removeKeywords\((?P<rm>.*)\)"
                         r"|set end of specs to (?P<spec>.*)|my syncAlbum\(folderName, "
                         r"(?P<album>.*), specs\)|my deleteAlbum\(folderName, (?P<gone>.*)\)"
                         r"|set specs to \{\}|my deleteFolderIfEmpty\(folderName\))$")


def data_lines(script: str) -> list[str]:
    body = script.split("\tset folderName to \"photoplug\"\n", 1)[1]
    return body.split("\treturn \"photoplug: \"", 1)[0].splitlines()


def read_statement(line: str) -> list[object]:
    match = _STATEMENTS.match(line)
    assert match, f"unexpected statement {line!r}"
    source = next((v for v in match.groupdict().values() if v is not None), None)
    if source is None:
        return []
    values, pos = [], 0
    while True:
        value, pos = read_value(source, pos)
        values.append(value)
        if pos == len(source):
            return values
        assert source[pos:pos + 2] == ", ", f"junk after a value in {line!r}"
        pos += 2


def test_literals_round_trip_hostile_strings() -> None:
    for value in HOSTILE:
        literal = text_literal(value)
        assert literal.isascii() and "\n" not in literal and "\r" not in literal
        assert read_value(literal) == (value, len(literal)), value


def test_hostile_names_cannot_break_out_of_their_literals() -> None:
    photos, keywords, albums = {}, {}, {}
    for n, name in enumerate(HOSTILE):
        sid = f"folder/{n}"
        photos[sid] = PlannedPhoto(None, f"{name}.jpg", "2024-02-29T23:59:59", (sid,))
        keywords[sid] = [f"photoplug/{name}", "photoplug/plain"]
        albums[name or "untitled"] = [sid]
    plan = PhotosPlan(photos, keywords, albums)
    for script in (apply_script(plan, "a.applescript"), undo_script(plan, "u.applescript")):
        assert script.isascii()
        seen_keywords, seen_albums, seen_files = set(), set(), set()
        for line in data_lines(script):
            values = read_statement(line)
            for value in values:
                if isinstance(value, str):
                    seen_albums.add(value)
                elif value and isinstance(value[0], str) and value[0].startswith("photoplug/"):
                    seen_keywords.update(value)
                elif value:
                    assert value[0] == "" and value[2] == [2024, 2, 29, 86399]
                    seen_files.add(value[1])
        assert seen_keywords == {k for ks in keywords.values() for k in ks}
        assert seen_albums == set(albums)
        assert seen_files == {f"{name}.jpg" for name in HOSTILE}
