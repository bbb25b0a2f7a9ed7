"""``photoplug albums init|sync`` and ``photoplug tag``: smart albums and keywords."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from photoplug.errors import PhotoplugError
from photoplug.hooks import WriteOptions
from photoplug.cli.options import (common_options, fail, host_options, indexed_library, note,
                                   printable, report, vocabulary_options)


@click.group()
def albums() -> None:
    """Smart albums ("beach selfies", "sunsets", ...) defined in a TOML file."""


@albums.command("init")
@click.option("--albums", "albums_file", type=click.Path(dir_okay=False),
              help="Where to write (default: albums.toml in the user config dir).")
@click.option("--force", is_flag=True, help="Replace an existing file.")
def albums_init(albums_file: str | None, force: bool) -> None:
    """Write a starter set of everyday albums to edit."""
    from photoplug.albums.definitions import STARTER, default_albums_path, write_starter
    path = Path(albums_file).expanduser() if albums_file else default_albums_path()
    try:
        write_starter(path, force)
    except PhotoplugError as exc:
        fail(str(exc))
    note(f"wrote {len(STARTER)} albums to {path}")
    click.echo(str(path))


@albums.command("sync")
@click.argument("location")
@click.option("--albums", "albums_file", type=click.Path(dir_okay=False),
              help="The album definitions (default: the file `albums init` wrote).")
@vocabulary_options
@click.option("--reset", "resets", multiple=True, metavar="NAME",
              help="Forget your corrections to album NAME (repeatable): photos you took "
                   "out may come back, photos you put in may leave.")
@click.option("--explain", is_flag=True,
              help="Per album its rule; per member its score, the prompt that won and the "
                   "best rival; per photo kept out, why.")
@click.option("--dry-run", is_flag=True, help="Show membership and changes; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Membership as JSON.")
@host_options
@common_options
def albums_sync(app: Any, location: str, albums_file: str | None,
                concepts: list[Any], resets: tuple[str, ...],
                explain: bool, as_json: bool, writing: WriteOptions) -> None:
    """Fill every album with the photos of LOCATION that belong, and write them back.

    A photo belongs when the album's prompts describe it about as well as anything in the
    vocabulary (or another album) does; photos you took out of an album stay out, photos
    you put in stay in.
    """
    from photoplug.albums.definitions import default_albums_path, load_albums
    from photoplug.albums.workflows import sync_albums
    path = Path(albums_file).expanduser() if albums_file else default_albums_path()
    definitions = load_albums(path)
    unknown = sorted(set(resets) - {a.name for a in definitions})
    if unknown:
        raise PhotoplugError(f"--reset {unknown[0]!r}: no album of that name in {path}")
    library = indexed_library(app, location)
    sync = sync_albums(app, library, definitions, concepts, writing, resets)
    note(f"{len(definitions)} albums over {len(sync.rows)} photos in {sync.seconds:.2f} s")
    _print_albums(sync.results, sync.rows, sync.logit_scale, explain, as_json)
    report(sync.write())


def _print_albums(results: list[Any], rows: list[tuple], logit_scale: float, explain: bool,
                  as_json: bool) -> None:
    if as_json:
        out = []
        for r in results:
            members = []
            for i in r.members:
                item = {"path": rows[i][0], "id": rows[i][1]}
                reason = r.reasons.get(i)
                if reason is not None and reason.score is not None:
                    item["score"] = round(reason.score, 6)
                if explain and reason is not None:
                    item.update(_reason_json(reason, rows, logit_scale))
                members.append(item)
            entry: dict[str, Any] = {"album": r.album.name, "rule": r.rule, "members": members}
            if explain:
                entry["kept_out"] = [{"path": rows[i][0], "id": rows[i][1],
                                      **_reason_json(why, rows, logit_scale)}
                                     for i, why in sorted(r.kept_out.items())]
            out.append(entry)
        click.echo(json.dumps(out, ensure_ascii=False, indent=1))
        return
    for r in results:
        examples = ", ".join(Path(rows[i][0]).name for i in r.members[:3])
        click.echo(f"{len(r.members):>6}  {printable(r.album.name):<28} "
                   f"{printable(examples)}")
        if explain:
            click.echo(f"        rule: {r.rule}")
            for sign, reasons in (("+", [(i, r.reasons.get(i)) for i in r.members]),
                                  ("-", sorted(r.kept_out.items()))):
                for i, reason in reasons:
                    why = _reason_text(reason, rows, logit_scale) if reason else ""
                    click.echo(f"        {sign} {printable(Path(rows[i][0]).name)}: "
                               f"{printable(why)}")


def _reason_json(reason: Any, rows: list[tuple], logit_scale: float) -> dict[str, Any]:
    out = reason.as_json(logit_scale)
    if reason.near is not None:
        out["near"] = rows[reason.near][0]
    return out


def _reason_text(reason: Any, rows: list[tuple], logit_scale: float) -> str:
    text = reason.text(logit_scale)
    return f"{text} ({Path(rows[reason.near][0]).name})" if reason.near is not None else text


@click.command()
@click.argument("location")
@vocabulary_options
@click.option("--max-tags", type=click.IntRange(1, 50), default=5, show_default=True,
              help="At most this many keywords per photo.")
@click.option("--explain", is_flag=True,
              help="Per keyword given, its score, the prompt that won and the best rival.")
@click.option("--dry-run", is_flag=True, help="Show the keywords; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Keywords per photo as JSON.")
@host_options
@common_options
def tag(app: Any, location: str, concepts: list[Any], max_tags: int, explain: bool,
        as_json: bool, writing: WriteOptions) -> None:
    """Give each photo of LOCATION keywords from a vocabulary (and installed taggers).

    A keyword is given when it describes the photo about as well as the photo's best
    description does. photoplug's earlier keywords that no longer fit are taken off;
    keywords you removed are never written again, keywords you added are kept.
    """
    from photoplug.albums.workflows import auto_tag
    library = indexed_library(app, location)
    tags = auto_tag(app, library, concepts, max_tags, explain, writing)
    note(f"{tags.concepts} concepts over {len(tags.rows)} photos in {tags.seconds:.2f} s: "
         f"{len(tags.keywords)} photos tagged")
    _print_tags(tags, explain, as_json)
    report(tags.write())


def _print_tags(tags: Any, explain: bool, as_json: bool) -> None:
    rows, row_of, reasons = tags.rows, tags.row_of, tags.result.reasons
    if as_json:
        out = []
        for sid, words in tags.keywords.items():
            item: dict[str, Any] = {"path": rows[row_of[sid]][0], "id": sid, "keywords": words}
            if explain and reasons is not None:
                item["why"] = {w: r.as_json(tags.logit_scale)
                               for w, r in reasons[row_of[sid]].items()}
            out.append(item)
        click.echo(json.dumps(out, ensure_ascii=False, indent=1))
    elif explain and reasons is not None:
        click.echo(f"rule: {tags.result.rule}")
        for sid, words in tags.keywords.items():
            click.echo(printable(rows[row_of[sid]][0]))
            for word in words:
                reason = reasons[row_of[sid]].get(word)
                why = reason.text(tags.logit_scale) if reason else "from a tagger plugin"
                click.echo(f"  {printable(word)}: {printable(why)}")
