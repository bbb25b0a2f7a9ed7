"""``photoplug search``: a query (words, a photo, rclip's arithmetic) against the index."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from photoplug.errors import PhotoplugError
from photoplug.hooks import Library, SearchResult, WriteOptions
from photoplug.hooks.protocols import Filterable
from photoplug.cli.options import (COLOR_LABELS, PICK_LABELS, common_options, host_options, note,
                                   printable, report, run_index, vocabulary_options)


SORTS = ("score", "date", "date-asc")  # photoplug.results.present.by_date for the dates


class _SearchCommand(click.Command):
    """Accept rclip's bare ``+ Q`` and ``- Q`` as ``--add Q`` and ``--subtract Q``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        mapped = {"+": "--add", "-": "--subtract"}
        return super().parse_args(ctx, [mapped.get(a, a) for a in args])


@click.command(cls=_SearchCommand)
@click.argument("query")
@click.argument("location", required=False)
@click.option("--top", "-t", type=int, default=10, show_default=True, help="How many results.")
@click.option("--add", "-a", multiple=True, metavar="Q", help="Add a query (also: + Q).")
@click.option("--subtract", "-s", multiple=True, metavar="Q",
              help="Subtract a query (also: - Q).")
@click.option("--good-only", is_flag=True,
              help="Only the good matches: those the query describes about as well as "
                   "anything in the vocabulary does.")
@click.option("--sort", type=click.Choice(SORTS), default="score", show_default=True,
              help="Order the good matches by score, or by capture date (date: newest "
                   "first; date-asc: oldest first).")
@click.option("--all-frames", is_flag=True,
              help="List near-identical photos (bursts, re-saves) one by one instead of "
                   "folding them into the best of them.")
@vocabulary_options
@click.option("--json", "as_json", is_flag=True, help="One JSON array, best first.")
@click.option("--paths", is_flag=True, help="One absolute path per line.")
@click.option("--null", "-0", "null", is_flag=True, help="With --paths: end paths with NUL.")
@click.option("--html", "html_file", type=click.Path(dir_okay=False),
              help="Also write a self-contained contact sheet (thumbnails embedded) here.")
@click.option("--album", "in_album", metavar="ALBUM",
              help="Only photos in this host album and its sub-albums (digiKam: /Trips/2024).")
@click.option("--tag", "with_tags", multiple=True, metavar="TAG",
              help="Only photos with this host tag or one below it (digiKam: People/Anna).")
@click.option("--rating", type=click.IntRange(0, 5), help="Only photos rated at least this.")
@click.option("--color-label", type=click.Choice(COLOR_LABELS), help="Only this colour label.")
@click.option("--pick-label", type=click.Choice(PICK_LABELS), help="Only this pick label.")
@click.option("--since", metavar="DATE", help="Only photos taken on or after DATE (2024-06-01).")
@click.option("--until", metavar="DATE", help="Only photos taken on or before DATE.")
@click.option("--add-keyword", "keywords", multiple=True, metavar="KEYWORD",
              help="Write KEYWORD (under photoplug) to the results in their host.")
@click.option("--save-album", metavar="NAME",
              help="Make the results the album NAME in their host.")
@click.option("--dry-run", is_flag=True, help="With --add-keyword/--save-album: show what would change.")
@click.option("--text-only", "text", flag_value="only",
              help="Only photos whose text (read by `index --text`) matches the words.")
@click.option("--no-text", "text", flag_value="off",
              help="Only by what photos look like: ignore the text in them.")
@host_options
@click.option("--sidecars", is_flag=True,
              help="digiKam: also write the keywords into the photos' XMP sidecars.")
@common_options
def search(app: Any, query: str, location: str | None, top: int, add: tuple[str, ...],
           subtract: tuple[str, ...], as_json: bool, paths: bool, null: bool,
           in_album: str | None, with_tags: tuple[str, ...], rating: int | None,
           color_label: str | None, pick_label: str | None, since: str | None,
           until: str | None, keywords: tuple[str, ...], save_album: str | None,
           writing: WriteOptions, html_file: str | None, good_only: bool, sort: str, all_frames: bool,
           concepts: list[Any], text: str | None) -> None:
    """Search for QUERY (text, or an image file) in LOCATION, or everywhere indexed.

    Weight a query with a prefix, e.g. `2:beach`; combine with `+ Q` and `- Q`.
    """
    from photoplug.search import parse_query
    if top < 1:
        raise PhotoplugError("--top must be 1 or more")
    parsed = parse_query(query, add, subtract)
    filters = {k: v for k, v in dict(album=in_album, tags=with_tags, rating=rating,
                                     color_label=color_label, pick_label=pick_label,
                                     since=since, until=until).items() if v}
    locations = None
    only = None
    opened: dict[str, Library] = {}  # each library opened once, written through that
    if location:
        library = app.open(location)
        opened[library.uri] = library
        if not app.is_indexed(library):
            note(f"{library.uri} is not indexed yet: indexing it first")
            run_index(app, location)
        elif not library.available():
            note(f"{library.uri} is offline (missing or not mounted): searching its index")
        locations = [library.uri]
        if filters:
            if not isinstance(library, Filterable):
                raise PhotoplugError(f"{library.uri}: this host has no albums, tags, ratings, "
                                     f"labels or dates to filter by")
            only = {library.uri: library.select(**filters)}
    elif filters:
        raise PhotoplugError("filters such as --tag and --album need a LOCATION")
    started = time.perf_counter()
    scope = app.search_scope(locations)
    model = app.search_engine(scope).spec.label if scope else "-"
    loaded = time.perf_counter()
    results = app.search(parsed, locations, top, only=only, text=text or "auto")
    searched = time.perf_counter()
    from photoplug.results.present import present
    results = present(app, parsed, results, concepts, sort, fold=not all_frames)
    good = sum(r.match == "good" for r in results)
    if good_only:
        results = results[:good]
    note(f"{good} good matches of {len(results)} results in "
         f"{(searched - loaded) * 1000:.0f} ms, judged in "
         f"{(time.perf_counter() - searched) * 1000:.0f} ms "
         f"(model {model} loaded in {(loaded - started) * 1000:.0f} ms)")
    undated = sum(r.match == "good" and r.taken is None for r in results)
    if sort != "score" and undated:
        note(f"{undated} good matches have no date: listed last")
    _print_results(results, as_json, paths, null)
    results = [s for r in results for s in (r, *r.similar)]
    if html_file:
        from photoplug.web.contact_sheet import contact_sheet
        Path(html_file).write_text(contact_sheet(query, results), encoding="utf-8")
        note(f"contact sheet: {Path(html_file).resolve()}")
    if keywords or save_album:
        _write_back(app, opened, results, keywords, save_album, writing)


def _print_results(results: list[SearchResult], as_json: bool, paths: bool, null: bool) -> None:
    if as_json:
        click.echo(json.dumps([r.as_json(i) for i, r in enumerate(results, 1)],
                              ensure_ascii=False, indent=1))
    elif paths:
        end = "\0" if null else "\n"
        for r in results:
            click.echo(str(r.path), nl=False)
            click.echo(end, nl=False)
    else:
        from photoplug.media.video import clock
        for i, r in enumerate(results, 1):
            if r.match != "good" and (i == 1 or results[i - 2].match == "good"):
                click.echo(f"      ---- {'no good match' if i == 1 else f'{i - 1} good'}; "
                           f"weaker matches below ----")
            at = "" if r.time is None else f"  (at {clock(r.time)})"
            more = f"  (+{len(r.similar)} similar)" if r.similar else ""
            when = f"  {r.taken[:10]}" if r.taken else ""
            click.echo(f"{i:>4}  {r.score:6.3f}  {printable(str(r.path))}{at}{more}{when}")
            if r.text is not None:
                click.echo(f"              text: {_marked(r.text, r.text_spans)}")


def _write_back(app: Any, opened: dict[str, Library], results: list[SearchResult],
                tags: tuple[str, ...], album: str | None, writing: WriteOptions) -> None:
    """Keywords and an album from search results: one write per host library (the one
    ``opened`` already, else opened now)."""
    from photoplug.albums.writeback import WriteBack
    by_location: dict[str, set[str]] = {}
    for r in results:
        by_location.setdefault(r.location, set()).add(r.id)
    for uri, ids in by_location.items():
        writeback = WriteBack(app, opened.get(uri) or app.open(uri), writing)
        report(writeback.write(albums={album: ids} if album else None,
                                explicit={word: ids for word in tags}))


def _marked(line: str, spans: Any) -> str:
    """The matched line, its matched words in bold (on a terminal)."""
    out, at = [], 0
    for start, end in spans:
        out += [printable(line[at:start]), click.style(printable(line[start:end]), bold=True)]
        at = end
    return "".join(out + [printable(line[at:])])
