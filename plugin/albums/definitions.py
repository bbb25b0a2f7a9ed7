"""Smart-album definitions: a TOML array of ``[[album]]`` tables.

    [[album]]
    name = "beach selfies"
    prompts = ["a selfie at the beach", "friends smiling on a sandy beach"]
    negative = ["a swimming pool"]
    examples = ["examples/beach.jpg"]     # example photos, relative to this file
    threshold = "auto"                    # or a raw cosine cut such as 0.27

Which photos belong is decided in ``membership``: with "auto", those the album's prompts
describe about as well as anything else could; a negative prompt at least as good as the
best positive one keeps a photo out.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from photoplug.errors import PhotoplugError

KEYS = {"name", "prompts", "negative", "examples", "threshold"}


@dataclass(frozen=True)
class AlbumDef:
    name: str
    prompts: tuple[str, ...]
    negative: tuple[str, ...] = ()
    examples: tuple[Path, ...] = ()
    threshold: float | None = None  # None: "auto", the zero-shot competition (membership)


def default_albums_path() -> Path:
    return Path(platformdirs.user_config_dir("photoplug")) / "albums.toml"


def _line_of(text: str, index: int, key: str | None) -> int:
    """The line of album number ``index`` (0-based), or of ``key`` inside it."""
    headers = [n for n, line in enumerate(text.splitlines(), 1)
               if re.match(r"\s*\[\[\s*album\s*\]\]", line)]
    if index >= len(headers):
        return 1
    start = headers[index]
    end = headers[index + 1] if index + 1 < len(headers) else len(text.splitlines()) + 1
    if key:
        for n, line in enumerate(text.splitlines()[start:end - 1], start + 1):
            if re.match(rf"\s*{re.escape(key)}\s*=", line):
                return n
    return start


def load_albums(path: Path) -> list[AlbumDef]:
    """Parse and check an albums file; errors name the file, line and key."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PhotoplugError(f"no albums file at {path}: run `photoplug albums init` "
                             f"or pass --albums FILE") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PhotoplugError(f"{path}: {exc}") from None
    tables = data.get("album")
    if not isinstance(tables, list) or not tables:
        raise PhotoplugError(f"{path}: no [[album]] tables")
    albums, names = [], set()
    for i, table in enumerate(tables):
        def bad(key: str | None, why: str) -> PhotoplugError:
            return PhotoplugError(f"{path}, line {_line_of(text, i, key)}: "
                                  f"{'key ' + repr(key) + ': ' if key else ''}{why}")
        unknown = set(table) - KEYS
        if unknown:
            key = sorted(unknown)[0]
            raise bad(key, f"unknown key (known: {', '.join(sorted(KEYS))})")
        name = table.get("name")
        if not isinstance(name, str) or not name.strip():
            raise bad("name" if "name" in table else None, "every album needs a name")
        if name in names:
            raise bad("name", f"a second album named {name!r}")
        names.add(name)
        lists = {}
        for key in ("prompts", "negative", "examples"):
            value = table.get(key, [])
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(v, str) and v.strip()
                                                      for v in value):
                raise bad(key, "must be a list of non-empty strings")
            lists[key] = value
        if not lists["prompts"] and not lists["examples"]:
            raise bad("prompts", "an album needs prompts or examples")
        examples = tuple((path.parent / e).expanduser().resolve() for e in lists["examples"])
        for example in examples:
            if not example.is_file():
                raise bad("examples", f"no such image: {example}")
        albums.append(AlbumDef(name.strip(), tuple(lists["prompts"]),
                               tuple(lists["negative"]), examples,
                               _threshold(table.get("threshold", "auto"), bad)))
    return albums


def _threshold(value: Any, bad: Any) -> float | None:
    if value == "auto":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and -1 <= value <= 1:
        return float(value)
    raise bad("threshold", 'must be "auto" or a cosine between -1 and 1')


STARTER = [
    ("beach selfies", ["a selfie at the beach", "friends taking a selfie on a sandy beach"],
     ["a swimming pool"]),
    ("sunsets", ["a sunset", "the sun setting over the sea", "an orange sky at dusk"], []),
    ("food", ["a plate of food", "a meal on a restaurant table", "a home-cooked dish"], []),
    ("pets", ["a photo of a pet", "a dog", "a cat"], []),
    ("my dog", ["a photo of my dog", "a dog playing outside"], []),
    ("documents and receipts", ["a photo of a receipt", "a scanned document",
                                "a printed page of text", "an invoice"], []),
    ("screenshots", ["a screenshot of a phone", "a screenshot of a computer screen"], []),
    ("snow", ["a snowy landscape", "people playing in the snow", "snow-covered trees"], []),
    ("mountains", ["mountains", "a mountain landscape", "hiking in the mountains"], []),
    ("concerts", ["a concert", "a band playing on stage", "a crowd at a music festival"], []),
    ("birthdays", ["a birthday party", "a birthday cake with candles"], []),
    ("weddings", ["a wedding", "a bride and groom", "a wedding ceremony"], []),
    ("babies", ["a baby", "a newborn baby", "a toddler playing"], []),
    ("cityscapes", ["a city skyline", "a street in a city", "tall buildings downtown"], []),
    ("flowers", ["flowers", "a close-up of a flower", "a garden in bloom"], []),
    ("cars", ["a car", "a car parked on a street"], []),
    ("forests", ["a forest", "a path through the woods"], []),
    ("lakes and rivers", ["a lake", "a river", "a waterfall"], []),
    ("night sky", ["stars in the night sky", "the moon at night", "the milky way"], []),
    ("sports", ["people playing sports", "a football match", "a tennis game"], []),
    ("christmas", ["a christmas tree", "christmas decorations", "opening presents"], []),
    ("group photos", ["a group photo of friends", "a family photo"], []),
    ("selfies", ["a selfie", "a close-up selfie of a person"], []),
    ("whiteboards and slides", ["a whiteboard with writing", "a presentation slide"], []),
]


def write_starter(path: Path, force: bool = False) -> None:
    """Write the starter set of everyday albums (refusing to overwrite unless forced)."""
    if path.exists() and not force:
        raise PhotoplugError(f"{path} exists: edit it, or pass --force to replace it")
    lines = ["# photoplug smart albums: `photoplug albums sync LOCATION` fills them.",
             "# A photo belongs when a prompt describes it about as well as anything in the",
             "# vocabulary or another album does, and better than every negative prompt",
             '# (threshold = "auto"; or a raw cosine cut such as 0.27).', ""]
    for name, prompts, negative in STARTER:
        lines += ["[[album]]", f"name = {_toml_str(name)}",
                  f"prompts = [{', '.join(_toml_str(p) for p in prompts)}]"]
        if negative:
            lines.append(f"negative = [{', '.join(_toml_str(n) for n in negative)}]")
        lines += ['threshold = "auto"', ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
