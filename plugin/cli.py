"""The ``photoplug`` command line.

Results go to stdout (a table, ``--json`` or ``--paths``); progress and notes to stderr.
torch and open_clip are imported only by commands that need the model.
"""
from __future__ import annotations

import functools
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

import click

from photoplug import __version__
from photoplug.errors import PhotoplugError
from photoplug.hooks import LocationError, SearchResult, WriteReport
from photoplug.weights import BACKENDS, ModelSpec

DEVICES = ("auto", "cpu", "cuda", "mps")
COLOR_LABELS = ("none", "red", "orange", "yellow", "green", "blue", "magenta", "gray", "black",
                "white")
PICK_LABELS = ("none", "rejected", "pending", "accepted")


def note(message: str) -> None:
    click.echo(message, err=True)


def fail(message: str, code: int = 1) -> None:
    click.echo(f"photoplug: error: {message}", err=True)
    sys.exit(code)


def common_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options every subcommand accepts after its name."""
    options = [
        click.option("--index", "index_path", type=click.Path(dir_okay=False),
                     envvar="PHOTOPLUG_INDEX", help="Index file (default: in the user data dir)."),
        click.option("--model", help="open_clip model: ViT-B-32 (default), local-dir:PATH, "
                                     "hf-hub:ORG/REPO."),
        click.option("--pretrained", help="open_clip pretrained tag (default for ViT-B-32: "
                                          "openai)."),
        click.option("--weights", type=click.Path(dir_okay=False),
                     help="A checkpoint file for the named architecture (or PHOTOPLUG_WEIGHTS)."),
        click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True),
        click.option("--backend", type=click.Choice(BACKENDS), envvar="PHOTOPLUG_BACKEND",
                     help="What computes image embeddings: auto (the fastest exact runtime "
                          "measured on this machine: OpenVINO, ONNX Runtime or torch), torch, "
                          "openvino, onnx (all the same vectors), or int8 (ONNX Runtime, int8 "
                          "weights: faster, another model's vectors; also onnx-int8). "
                          "Default: what the index recorded, else auto."),
    ]
    for option in reversed(options):
        command = option(command)

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        from photoplug.api import Photoplug
        settings = {k: kwargs.pop(k) for k in ("index_path", "model", "pretrained",
                                                "weights", "device", "backend")}
        try:
            app = Photoplug(index=settings["index_path"], model=settings["model"],
                            pretrained=settings["pretrained"], weights=settings["weights"],
                            device=settings["device"], backend=settings["backend"])
            return command(app, **kwargs)
        except (PhotoplugError, LocationError) as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            note("interrupted: what was indexed so far is kept; run the command again "
                 "to continue")
            sys.exit(130)

    return wrapper


def host_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--force, --wait and --keep-backups: how to write into a host with a database
    (digiKam), passed on to the command as ``host``."""
    @functools.wraps(command)
    def wrapper(*args: Any, force: bool, wait: bool, keep_backups: int | None,
                **kwargs: Any) -> Any:
        return command(*args, host={"force": force, "wait": wait,
                                    "keep_backups": keep_backups}, **kwargs)

    options = [
        click.option("--force", is_flag=True,
                     help="Write even while a digiKam has the database open."),
        click.option("--wait", is_flag=True, help="If a digiKam has the database open, "
                                                  "wait until it closes, then write."),
        click.option("--keep-backups", type=click.IntRange(1, 1000), metavar="N",
                     help="Keep the newest N backups of the host's database (default 3)."),
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="photoplug")
def main() -> None:
    """Find your own photos by what they show (CLIP, offline, on your CPU)."""


# -- index ------------------------------------------------------------------------------

def _progress_bar() -> tuple[Callable[[int, int], None], Callable[[], None]]:
    """A tqdm bar on stderr (rate and ETA), created once the total is known."""
    from tqdm import tqdm
    state: dict[str, Any] = {}

    def update(done: int, total: int) -> None:
        if "bar" not in state:
            state["bar"] = tqdm(total=total, unit="photo", file=sys.stderr, smoothing=0.1,
                                disable=None, dynamic_ncols=True)
        bar = state["bar"]
        bar.update(done - bar.n)

    def close() -> None:
        if "bar" in state:
            state["bar"].close()

    return update, close


def run_index(app: Any, location: str, cluster: Any = None, **options: Any) -> Any:
    library = app.open(location, **options)
    update, close = _progress_bar()
    try:
        report = app.index(library, progress=update, cluster=cluster)
    finally:
        close()
    note(report.summary())
    for root in getattr(library, "offline_roots", list)():
        note(f"album root not mounted, its photos kept offline: {root}")
    return library, report


@main.command()
@click.argument("location")
@click.option("--exclude", multiple=True, metavar="GLOB",
              help="Skip paths matching this glob (repeatable).")
@click.option("--hidden", is_flag=True, help="Also index hidden files and folders.")
@click.option("--json", "as_json", is_flag=True, help="Print the run's report as JSON.")
@click.option("--ray", "ray_address", is_flag=False, flag_value="", metavar="[ADDRESS]",
              help="Read and encode on a Ray cluster: auto, ray://HOST:PORT, HOST:PORT, or "
                   "local (start one here); no ADDRESS: RAY_ADDRESS, else auto.")
@click.option("--workers", type=click.IntRange(1), metavar="N",
              help="With --ray: how many workers (default: one per GPU, else one per node).")
@click.option("--ship-bytes", is_flag=True,
              help="With --ray: send each file's bytes to the workers (they cannot see it).")
@click.option("--path-map", multiple=True, metavar="LOCAL=REMOTE",
              help="With --ray: the workers see the folder LOCAL as REMOTE (repeatable).")
@common_options
def index(app: Any, location: str, exclude: tuple[str, ...], hidden: bool, as_json: bool,
          ray_address: str | None, workers: int | None, ship_bytes: bool,
          path_map: tuple[str, ...]) -> None:
    """Index (or bring up to date) the photos of LOCATION: folder:PATH or a bare path."""
    cluster = None
    if ray_address is not None:
        from photoplug.cluster import ClusterOptions
        cluster = ClusterOptions(ray_address or None, ship_bytes,
                                 ClusterOptions.parse_path_map(path_map), workers)
    elif workers or ship_bytes or path_map:
        raise PhotoplugError("--workers, --ship-bytes and --path-map go with --ray")
    _, report = run_index(app, location, cluster, exclude=exclude, include_hidden=hidden)
    for path, reason in report.skipped:
        note(f"skipped {path!r}: {reason}")
    if as_json:
        data = {k: v for k, v in vars(report).items() if k != "skipped"}
        data["skipped"] = [{"path": p, "reason": r} for p, r in report.skipped]
        data["rate"] = report.rate
        click.echo(json.dumps(data, indent=1))


# -- search -----------------------------------------------------------------------------

class _SearchCommand(click.Command):
    """Accept rclip's bare ``+ Q`` and ``- Q`` as ``--add Q`` and ``--subtract Q``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        mapped = {"+": "--add", "-": "--subtract"}
        return super().parse_args(ctx, [mapped.get(a, a) for a in args])


@main.command(cls=_SearchCommand)
@click.argument("query")
@click.argument("location", required=False)
@click.option("--top", "-t", type=int, default=10, show_default=True, help="How many results.")
@click.option("--add", "-a", multiple=True, metavar="Q", help="Add a query (also: + Q).")
@click.option("--subtract", "-s", multiple=True, metavar="Q",
              help="Subtract a query (also: - Q).")
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
@host_options
@click.option("--sidecars", is_flag=True,
              help="digiKam: also write the keywords into the photos' XMP sidecars.")
@common_options
def search(app: Any, query: str, location: str | None, top: int, add: tuple[str, ...],
           subtract: tuple[str, ...], as_json: bool, paths: bool, null: bool,
           in_album: str | None, with_tags: tuple[str, ...], rating: int | None,
           color_label: str | None, pick_label: str | None, since: str | None,
           until: str | None, keywords: tuple[str, ...], save_album: str | None,
           dry_run: bool, host: dict[str, Any], sidecars: bool,
           html_file: str | None) -> None:
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
    if location:
        library = app.open(location)
        if not app.is_indexed(library):
            note(f"{library.uri} is not indexed yet: indexing it first")
            run_index(app, location)
        elif not library.available():
            note(f"{library.uri} is offline (missing or not mounted): searching its index")
        locations = [library.uri]
        if filters:
            if not hasattr(library, "select"):
                raise PhotoplugError(f"{library.uri}: this host has no albums, tags, ratings, "
                                     f"labels or dates to filter by")
            only = {library.uri: library.select(**filters)}
    elif filters:
        raise PhotoplugError("filters such as --tag and --album need a LOCATION")
    started = time.perf_counter()
    scope = app.search_scope(locations)
    if scope:
        app.search_engine(scope)
    loaded = time.perf_counter()
    results = app.search(parsed, locations, top, only=only)
    note(f"{len(results)} results in {(time.perf_counter() - loaded) * 1000:.0f} ms "
         f"(model loaded in {(loaded - started) * 1000:.0f} ms)")
    _print_results(results, as_json, paths, null)
    if html_file:
        from photoplug.contact_sheet import contact_sheet
        Path(html_file).write_text(contact_sheet(query, results), encoding="utf-8")
        note(f"contact sheet: {Path(html_file).resolve()}")
    if keywords or save_album:
        _write_back(app, results, keywords, save_album, dry_run, sidecars=sidecars, **host)


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
        from photoplug.video import clock
        for i, r in enumerate(results, 1):
            at = "" if r.time is None else f"  (at {clock(r.time)})"
            click.echo(f"{i:>4}  {r.score:6.3f}  {_printable(str(r.path))}{at}")


def _printable(text: str) -> str:
    """A path on one terminal line: control characters shown escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _write_back(app: Any, results: list[SearchResult], tags: tuple[str, ...],
                album: str | None, dry_run: bool, **options: Any) -> None:
    """Keywords and an album from search results: one write per host library."""
    from photoplug.writeback import WriteBack
    by_location: dict[str, set[str]] = {}
    for r in results:
        by_location.setdefault(r.location, set()).add(r.id)
    for uri, ids in by_location.items():
        writeback = WriteBack(app, app.open(uri, **options), dry_run)
        _report(writeback.write(albums={album: ids} if album else None,
                                explicit={word: ids for word in tags}))


def _report(report: WriteReport) -> None:
    prefix = "[dry run] " if report.dry_run else ""
    for change in report.changes:
        note(f"{prefix}{_printable(change)}")
    for line in report.notes:
        note(_printable(line))
    for error in report.errors:
        note(f"error: {_printable(error)}")
    if not report.changes and not report.errors:
        note("nothing to change")
    if report.errors:
        sys.exit(1)


# -- smart albums and auto-tags --------------------------------------------------------

def _indexed_library(app: Any, location: str, **options: Any) -> Any:
    library = app.open(location, **options)
    if not app.is_indexed(library):
        note(f"{library.uri} is not indexed yet: indexing it first")
        run_index(app, location)
    return library


def vocabulary_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--vocabulary FILE (repeatable) and --only-mine: what photos may show."""
    command = click.option("--only-mine", is_flag=True,
                           help="Use only --vocabulary files, not the built-in vocabulary.")(
        command)
    return click.option("--vocabulary", "vocabularies", multiple=True,
                        type=click.Path(dir_okay=False),
                        help="A vocabulary file (one concept per line); extends the "
                             "built-in one.")(command)


@main.group()
def albums() -> None:
    """Smart albums ("beach selfies", "sunsets", ...) defined in a TOML file."""


@albums.command("init")
@click.option("--albums", "albums_file", type=click.Path(dir_okay=False),
              help="Where to write (default: albums.toml in the user config dir).")
@click.option("--force", is_flag=True, help="Replace an existing file.")
def albums_init(albums_file: str | None, force: bool) -> None:
    """Write a starter set of everyday albums to edit."""
    from photoplug.albums import STARTER, default_albums_path, write_starter
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
                vocabularies: tuple[str, ...], only_mine: bool, resets: tuple[str, ...],
                explain: bool, dry_run: bool, as_json: bool, host: dict[str, Any]) -> None:
    """Fill every album with the photos of LOCATION that belong, and write them back.

    A photo belongs when the album's prompts describe it about as well as anything in the
    vocabulary (or another album) does; photos you took out of an album stay out, photos
    you put in stay in.
    """
    from photoplug.albums import default_albums_path, load_albums
    from photoplug.membership import albums_members
    from photoplug.vocabulary import vocabulary
    from photoplug.writeback import WriteBack
    path = Path(albums_file).expanduser() if albums_file else default_albums_path()
    definitions = load_albums(path)
    unknown = sorted(set(resets) - {a.name for a in definitions})
    if unknown:
        raise PhotoplugError(f"--reset {unknown[0]!r}: no album of that name in {path}")
    concepts = vocabulary([Path(v).expanduser() for v in vocabularies], only_mine)
    library = _indexed_library(app, location, **host)
    started = time.perf_counter()
    engine, matrix, rows = app.library_vectors(library)
    writeback = WriteBack(app, library, dry_run, reset_albums=resets)
    corrections = writeback.membership_corrections([a.name for a in definitions],
                                                   [r[1] for r in rows])
    encoders = app.encoders(engine)
    results = albums_members(definitions, matrix, encoders, concepts, corrections)
    note(f"{len(definitions)} albums over {len(rows)} photos in "
         f"{time.perf_counter() - started:.2f} s")
    _print_albums(results, rows, encoders.logit_scale, explain, as_json)
    _report(writeback.write(albums={r.album.name: {rows[i][1] for i in r.members}
                                    for r in results}))


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
        click.echo(f"{len(r.members):>6}  {_printable(r.album.name):<28} "
                   f"{_printable(examples)}")
        if explain:
            click.echo(f"        rule: {r.rule}")
            for sign, reasons in (("+", [(i, r.reasons.get(i)) for i in r.members]),
                                  ("-", sorted(r.kept_out.items()))):
                for i, reason in reasons:
                    why = _reason_text(reason, rows, logit_scale) if reason else ""
                    click.echo(f"        {sign} {_printable(Path(rows[i][0]).name)}: "
                               f"{_printable(why)}")


def _reason_json(reason: Any, rows: list[tuple], logit_scale: float) -> dict[str, Any]:
    out = reason.as_json(logit_scale)
    if reason.near is not None:
        out["near"] = rows[reason.near][0]
    return out


def _reason_text(reason: Any, rows: list[tuple], logit_scale: float) -> str:
    text = reason.text(logit_scale)
    return f"{text} ({Path(rows[reason.near][0]).name})" if reason.near is not None else text


@main.command()
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
def tag(app: Any, location: str, vocabularies: tuple[str, ...], only_mine: bool,
        max_tags: int, explain: bool, dry_run: bool, as_json: bool,
        host: dict[str, Any]) -> None:
    """Give each photo of LOCATION keywords from a vocabulary (and installed taggers).

    A keyword is given when it describes the photo about as well as the photo's best
    description does. photoplug's earlier keywords that no longer fit are taken off;
    keywords you removed are never written again, keywords you added are kept.
    """
    from photoplug.membership import auto_tags
    from photoplug.vocabulary import vocabulary
    from photoplug.writeback import WriteBack
    concepts = vocabulary([Path(v).expanduser() for v in vocabularies], only_mine)
    library = _indexed_library(app, location, **host)
    started = time.perf_counter()
    engine, matrix, rows = app.library_vectors(library)
    writeback = WriteBack(app, library, dry_run)
    row_of = {r[1]: i for i, r in enumerate(rows)}
    taken_off = {c.keyword: {row_of[s] for s in writeback.taken_off(c.keyword) if s in row_of}
                 for c in concepts}
    encoders = app.encoders(engine)
    result = auto_tags(concepts, matrix, encoders, max_tags, taken_off, explain)
    keywords = {rows[i][1]: words for i, words in enumerate(result.keywords) if words}
    ids = [r[1] for r in rows]
    for tagger in [t for batch in app.pm.hook.photoplug_taggers() for t in batch]:
        for sid, words in tagger.tag(ids, matrix, encoders.texts).items():
            keywords.setdefault(sid, [])
            keywords[sid] += [w for w in words if w not in keywords[sid]]
    note(f"{len(concepts)} concepts over {len(rows)} photos in "
         f"{time.perf_counter() - started:.2f} s: {len(keywords)} photos tagged")
    if as_json:
        out = []
        for sid, words in keywords.items():
            item: dict[str, Any] = {"path": rows[row_of[sid]][0], "id": sid, "keywords": words}
            if explain and result.reasons is not None:
                item["why"] = {w: r.as_json(encoders.logit_scale)
                               for w, r in result.reasons[row_of[sid]].items()}
            out.append(item)
        click.echo(json.dumps(out, ensure_ascii=False, indent=1))
    elif explain and result.reasons is not None:
        click.echo(f"rule: {result.rule}")
        for sid, words in keywords.items():
            click.echo(_printable(rows[row_of[sid]][0]))
            for word in words:
                reason = result.reasons[row_of[sid]].get(word)
                why = reason.text(encoders.logit_scale) if reason else "from a tagger plugin"
                click.echo(f"  {_printable(word)}: {_printable(why)}")
    auto: dict[str, set[str]] = {}
    for sid, words in keywords.items():
        for word in words:
            auto.setdefault(word, set()).add(sid)
    _report(writeback.write(auto=auto))


# -- serve ------------------------------------------------------------------------------

@main.command()
@click.argument("locations", nargs=-1, required=True)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Beyond loopback (a LAN address, 0.0.0.0 for all) "
                   "the page requires a random token, given in the URL printed.")
@click.option("--allow-host", "allow_hosts", multiple=True, metavar="NAME",
              help="Another name the page may be opened by, such as nas.local (repeatable).")
@click.option("--token", envvar="PHOTOPLUG_TOKEN",
              help="The token to require instead of a random one, also on loopback: 16 or "
                   "more letters, digits, - or _ (or PHOTOPLUG_TOKEN, hidden from `ps`).")
@click.option("--port", type=click.IntRange(0, 65535), default=0,
              help="Port (default: a free one).")
@click.option("--albums", "albums_file", type=click.Path(dir_okay=False),
              help="Album definitions to list (default: the file `albums init` wrote).")
@common_options
def serve(app: Any, locations: tuple[str, ...], host: str, allow_hosts: tuple[str, ...],
          token: str | None, port: int, albums_file: str | None) -> None:
    """A search page with thumbnails (and a JSON API) for LOCATIONS, on this machine only
    unless --host says otherwise."""
    import uvicorn

    from photoplug.web import create_app, listen
    from photoplug.web_security import Access, is_loopback, own_token
    token = own_token(token)
    libraries = [_indexed_library(app, loc) for loc in locations]
    app.search_engine([lib.uri for lib in libraries])  # loaded once, kept warm
    sock = listen(host, port)
    access = Access.create(host, sock.getsockname()[1], allow_hosts, token)
    web = create_app(app, libraries, access,
                     Path(albums_file).expanduser() if albums_file else None)
    click.echo("\n".join(access.urls()))
    if not is_loopback(host):
        note("anyone on your network with this URL can search and view these photos")
    sys.stdout.flush()
    uvicorn.Server(uvicorn.Config(web, log_level="warning")).run(sockets=[sock])


# -- darktable ----------------------------------------------------------------------------

@main.group()
def darktable() -> None:
    """photoplug inside darktable: a module in its lighttable (search, more like this,
    smart albums), written through darktable's own Lua API while it runs."""


def _darktable_configdir(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--configdir", type=click.Path(file_okay=False),
                        help="darktable's config folder (default: the user's, "
                             "~/.config/darktable).")(command)


@darktable.command("install")
@_darktable_configdir
def darktable_install(configdir: str | None) -> None:
    """Install the module: lua/photoplug.lua and a line in luarc (once)."""
    from photoplug.adapters.darktable import config_dir
    from photoplug.darktable import install
    try:
        for line in install(Path(configdir).expanduser() if configdir else config_dir()):
            note(line)
    except (PhotoplugError, OSError) as exc:
        fail(str(exc))


@darktable.command("uninstall")
@_darktable_configdir
def darktable_uninstall(configdir: str | None) -> None:
    """Take the module out again (photoplug's tags stay: `photoplug undo darktable:`)."""
    from photoplug.adapters.darktable import config_dir
    from photoplug.darktable import uninstall
    try:
        for line in uninstall(Path(configdir).expanduser() if configdir else config_dir()):
            note(line)
    except (PhotoplugError, OSError) as exc:
        fail(str(exc))


# -- status, forget, undo ------------------------------------------------------------------

@main.command()
@click.argument("location", required=False)
@click.option("--json", "as_json", is_flag=True)
@common_options
def status(app: Any, location: str | None, as_json: bool) -> None:
    """What the index holds: locations, model, counts; with LOCATION, the skipped files."""
    if not app.index_path.exists():
        raise PhotoplugError(f"no index at {app.index_path} yet: run `photoplug index LOCATION`")
    rows = app.store.locations()
    if location:
        uri = app.open(location).uri
        rows = [r for r in rows if r["location"] == uri]
        if not rows:
            raise PhotoplugError(f"{uri} is not in the index {app.index_path}")
    if as_json:
        for r in rows:
            r["notes"] = _library_notes(app, r["location"])
            r["skipped_files"] = [{"path": p, "reason": why}
                                  for p, why in app.store.skipped(r["id"])] if location else None
        click.echo(json.dumps({"index": str(app.index_path), "locations": rows}, indent=1))
        return
    click.echo(f"index: {app.index_path}")
    for r in rows:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["indexed_at"])) \
            if r["indexed_at"] else "never"
        model = ModelSpec.from_recorded(r["model"], r["pretrained"]).label if r["model"] \
            else "-"
        state = "online" if r["online"] else "OFFLINE"
        click.echo(f"{_printable(r['location'])}\n  {state}; model {model}; indexed {when}\n"
                   f"  {r['indexed']} photos searchable"
                   + (f" ({r['videos']} of them videos)" if r["videos"] else "")
                   + f", {r['pending']} pending, "
                   f"{r['skipped']} skipped")
        for line in _library_notes(app, r["location"]):
            click.echo(f"  {line}")
        if location:
            for path, why in app.store.skipped(r["id"]):
                click.echo(f"    skipped {_printable(path)}: {why}")


def _library_notes(app: Any, uri: str) -> list[str]:
    """What the host adapter has to say about a location (how photos are identified...)."""
    try:
        library = app.open(uri)
    except LocationError:
        return []
    return list(getattr(library, "notes", list)())


@main.command()
@click.argument("location")
@common_options
def forget(app: Any, location: str) -> None:
    """Drop LOCATION and its embeddings from the index (nothing in the library changes)."""
    uri = app.open(location).uri
    location_id = app.store.location_id(uri) if app.index_path.exists() else None
    if location_id is None:
        raise PhotoplugError(f"{uri} is not in the index {app.index_path}")
    note(f"forgot {uri}: {app.store.forget(location_id)} photos")


@main.command()
@click.argument("location")
@click.option("--dry-run", is_flag=True, help="Show what would be removed.")
@host_options
@common_options
def undo(app: Any, location: str, dry_run: bool, host: dict[str, Any]) -> None:
    """Remove everything photoplug wrote to LOCATION (keywords, albums), and nothing else."""
    _report(app.undo(app.open(location, **host), dry_run))


# -- plugins and models ---------------------------------------------------------------

@main.command()
@click.option("--json", "as_json", is_flag=True)
def plugins(as_json: bool) -> None:
    """List loaded plugins and adapters with their versions and hooks."""
    from photoplug.plugins import adapters, list_plugins
    infos = list_plugins()
    if as_json:
        click.echo(json.dumps([vars(i) for i in infos], indent=1))
        return
    for info in infos:
        click.echo(f"{info.name}  ({info.package} {info.version})\n  hooks: "
                   f"{', '.join(info.hooks)}")
    click.echo("adapters: " + ", ".join(f"{a.scheme}: ({a.description})"
                                        for a in adapters().values()))


@main.group(invoke_without_command=True)
@click.option("--all", "show_all", is_flag=True, help="Every model open_clip knows.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def models(ctx: click.Context, show_all: bool, as_json: bool) -> None:
    """List models and whether their weights are on this machine."""
    if ctx.invoked_subcommand:
        return
    from photoplug.model_catalog import catalog
    rows = catalog(show_all)
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    for r in rows:
        mark = "local " if r["local"] else "      "
        click.echo(f"{mark}{r['model']:<28} {r['pretrained']:<32} {r['path'] or ''}")
    if not show_all:
        note("(--all lists every model open_clip knows; `photoplug models download NAME "
             "--pretrained TAG` fetches one)")


@models.command("download")
@click.argument("name")
@click.option("--pretrained", help="The pretrained tag (default for ViT-B-32: openai).")
def models_download(name: str, pretrained: str | None) -> None:
    """Fetch a model's weights into open_clip's cache (needs a network)."""
    from photoplug.errors import WeightsMissing
    from photoplug.weights import ModelSpec, find_checkpoint
    try:
        spec = ModelSpec.build(name, pretrained, None)
        path = find_checkpoint(spec, download=True)
    except WeightsMissing:
        fail(f"could not download the weights for {spec.label}: this machine cannot reach "
             f"Hugging Face or the model's URL; run this command on a machine with a network")
    except PhotoplugError as exc:
        fail(str(exc))
    click.echo(str(path))
