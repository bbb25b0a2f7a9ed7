"""A photoplug plan as AppleScript for Photos: one to apply it, one to undo it.

The scripts are plain ASCII: every string from the plan (keywords, album and file names)
becomes an AppleScript text literal in which ``"`` and ``\\`` are escaped and every
other character outside printable ASCII (newlines, control characters, any non-ASCII
letter) is spelled ``(character id N)``; nothing in a name can end its literal.
A photo is addressed as ``media item id "UUID/L0/001"`` when its UUID is known, else by
its file name, the capture time telling apart photos that share a name.
"""
from __future__ import annotations

from datetime import datetime
from itertools import groupby

from photoplug.adapters.apple_export.photos_plan import ALBUM_FOLDER, PhotosPlan, PlannedPhoto

_PRINTABLE = {chr(c) for c in range(0x20, 0x7F)} - {'"', "\\"}


def text_literal(value: str) -> str:
    """``value`` as an AppleScript expression of class text, built from ASCII only."""
    parts = []
    for plain, run in groupby(value, key=lambda c: c in _PRINTABLE or c in '"\\'):
        chars = list(run)
        if plain:
            parts.append('"' + "".join("\\" + c if c in '"\\' else c for c in chars) + '"')
        elif len(chars) == 1:
            parts.append(f"(character id {ord(chars[0])})")
        else:
            parts.append("(character id {" + ", ".join(str(ord(c)) for c in chars) + "})")
    return " & ".join(parts) or '""'


def photo_spec(photo: PlannedPhoto) -> str:
    """``{media item id, file name, {year, month, day, seconds into the day}}``."""
    item_id = f"{photo.uuid}/L0/001" if photo.uuid else ""
    when = "{}"
    if photo.taken:
        t = datetime.fromisoformat(photo.taken)
        when = f"{{{t.year}, {t.month}, {t.day}, {t.hour * 3600 + t.minute * 60 + t.second}}}"
    return f"{{{text_literal(item_id)}, {text_literal(photo.filename)}, {when}}}"


def _list(values: list[str]) -> str:
    return "{" + ", ".join(text_literal(v) for v in values) + "}"


_HEADER = """\
-- {title}
-- Run it on the Mac that holds the Photos library:  osascript {name}
-- Written by photoplug from the export folder's plan; safe to run more than once.

global changedPhotos, changedAlbums, notFound

on run
\tset changedPhotos to 0
\tset changedAlbums to 0
\tset notFound to 0
\tset folderName to {folder}
"""

_FOOTER = """\
\treturn "photoplug: " & changedPhotos & " photos and " & changedAlbums & " albums changed, " & notFound & " photos not found in Photos"
end run
"""

_FIND = """
on findPhoto(photoSpec)
\t-- by UUID when known; else the only photo with this file name, or the one taken then
\tset itemId to item 1 of photoSpec
\tset fname to item 2 of photoSpec
\tset taken to item 3 of photoSpec
\ttell application "Photos"
\t\tif itemId is not "" then
\t\t\ttry
\t\t\t\tset m to media item id itemId
\t\t\t\tget id of m
\t\t\t\treturn m
\t\t\tend try
\t\tend if
\t\twith timeout of 3600 seconds
\t\t\tset candidates to (every media item whose filename is fname)
\t\tend timeout
\tend tell
\tif (count of candidates) is 1 then return item 1 of candidates
\tif taken is not {} then
\t\tset wantedDate to my makeDate(taken)
\t\trepeat with m in candidates
\t\t\ttell application "Photos" to set d to date of m
\t\t\tif d is not missing value then
\t\t\t\tset diff to d - wantedDate
\t\t\t\tif diff < 0 then set diff to -diff
\t\t\t\tif diff < 2 then return contents of m
\t\t\tend if
\t\tend repeat
\tend if
\tset notFound to notFound + 1
\tlog "photoplug: not found in Photos: " & fname
\treturn missing value
end findPhoto

on makeDate(parts)
\tset d to current date
\tset day of d to 1
\tset year of d to item 1 of parts
\tset month of d to item 2 of parts
\tset day of d to item 3 of parts
\tset time of d to item 4 of parts
\treturn d
end makeDate
"""

_APPLY = """
on addKeywords(photoSpec, wanted)
\tset m to my findPhoto(photoSpec)
\tif m is missing value then return
\ttell application "Photos"
\t\tset kws to keywords of m
\t\tif kws is missing value then set kws to {}
\t\tset kwCount to count of kws
\t\trepeat with k in wanted
\t\t\tif kws does not contain (contents of k) then set end of kws to (contents of k)
\t\tend repeat
\t\tif (count of kws) > kwCount then
\t\t\tset keywords of m to kws
\t\t\tset changedPhotos to changedPhotos + 1
\t\tend if
\tend tell
end addKeywords

on syncAlbum(folderName, albumName, specs)
\t-- Photos cannot take a photo out of an album by script: an album with a photo too
\t-- many is deleted and made again (photos themselves are never deleted)
\tset wantedItems to {}
\trepeat with s in specs
\t\tset m to my findPhoto(contents of s)
\t\tif m is not missing value then set end of wantedItems to m
\tend repeat
\ttell application "Photos"
\t\tif not (exists folder folderName) then make new folder named folderName
\t\tset parentFolder to folder folderName
\t\tset wantedIds to {}
\t\trepeat with m in wantedItems
\t\t\tset end of wantedIds to id of m
\t\tend repeat
\t\tset presentIds to {}
\t\tif exists album albumName of parentFolder then
\t\t\tset theAlbum to album albumName of parentFolder
\t\t\tset presentIds to id of every media item of theAlbum
\t\t\trepeat with i in presentIds
\t\t\t\tif wantedIds does not contain (contents of i) then
\t\t\t\t\tdelete theAlbum
\t\t\t\t\tset theAlbum to make new album named albumName at parentFolder
\t\t\t\t\tset presentIds to {}
\t\t\t\t\tset changedAlbums to changedAlbums + 1
\t\t\t\t\texit repeat
\t\t\t\tend if
\t\t\tend repeat
\t\telse
\t\t\tset theAlbum to make new album named albumName at parentFolder
\t\t\tset changedAlbums to changedAlbums + 1
\t\tend if
\t\tset toAdd to {}
\t\trepeat with m in wantedItems
\t\t\tif presentIds does not contain (id of m) then set end of toAdd to (contents of m)
\t\tend repeat
\t\tif toAdd is not {} then
\t\t\tadd toAdd to theAlbum
\t\t\tif presentIds is not {} then set changedAlbums to changedAlbums + 1
\t\tend if
\tend tell
end syncAlbum
"""

_REMOVE = """
on removeKeywords(photoSpec, unwanted)
\tset m to my findPhoto(photoSpec)
\tif m is missing value then return
\ttell application "Photos"
\t\tset kws to keywords of m
\t\tif kws is missing value then return
\t\tset kept to {}
\t\trepeat with k in kws
\t\t\tif unwanted does not contain (contents of k) then set end of kept to (contents of k)
\t\tend repeat
\t\tif (count of kept) < (count of kws) then
\t\t\tset keywords of m to kept
\t\t\tset changedPhotos to changedPhotos + 1
\t\tend if
\tend tell
end removeKeywords
"""

_UNDO = """
on deleteAlbum(folderName, albumName)
\ttell application "Photos"
\t\tif exists folder folderName then
\t\t\tif exists album albumName of folder folderName then
\t\t\t\tdelete album albumName of folder folderName
\t\t\t\tset changedAlbums to changedAlbums + 1
\t\t\tend if
\t\tend if
\tend tell
end deleteAlbum

on deleteFolderIfEmpty(folderName)
\ttell application "Photos"
\t\tif exists folder folderName then
\t\t\tif (count of albums of folder folderName) is 0 and (count of folders of folder folderName) is 0 then delete folder folderName
\t\tend if
\tend tell
end deleteFolderIfEmpty
"""


def _header(title: str, name: str) -> str:
    return _HEADER.format(title=title, name=name, folder=text_literal(ALBUM_FOLDER))


def apply_script(plan: PhotosPlan, name: str) -> str:
    """Takes off the keywords photoplug no longer gives a photo, adds the plan's (keeping
    every other keyword) and makes each planned album in the photoplug folder hold
    exactly its photos."""
    lines = [_header("photoplug: add photoplug's keywords and albums to Photos.", name)]
    for sid, words in sorted(plan.removed.items()):
        lines.append(f"\tmy removeKeywords({photo_spec(plan.photos[sid])}, "
                     f"{_list(sorted(words))})\n")
    for sid, words in sorted(plan.keywords.items()):
        lines.append(f"\tmy addKeywords({photo_spec(plan.photos[sid])}, {_list(sorted(words))})\n")
    for album, members in sorted(plan.albums.items()):
        lines.append("\tset specs to {}\n")
        for sid in sorted(members):
            lines.append(f"\tset end of specs to {photo_spec(plan.photos[sid])}\n")
        lines.append(f"\tmy syncAlbum(folderName, {text_literal(album)}, specs)\n")
    lines.append(_FOOTER)
    return "".join(lines) + _FIND + _APPLY + _REMOVE


def undo_script(plan: PhotosPlan, name: str) -> str:
    """Removes the plan's keywords (and no other) and deletes its albums, then the
    photoplug folder if nothing else is in it."""
    lines = [_header("photoplug: remove photoplug's keywords and albums from Photos.", name)]
    for sid, words in sorted(plan.keywords.items()):
        lines.append(f"\tmy removeKeywords({photo_spec(plan.photos[sid])}, "
                     f"{_list(sorted(words))})\n")
    for album in sorted(plan.albums):
        lines.append(f"\tmy deleteAlbum(folderName, {text_literal(album)})\n")
    lines.append("\tmy deleteFolderIfEmpty(folderName)\n")
    lines.append(_FOOTER)
    return "".join(lines) + _FIND + _REMOVE + _UNDO
