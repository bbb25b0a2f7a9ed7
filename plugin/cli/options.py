"""What every command shares: options, notes and errors on stderr, progress, reports."""
from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Any, Callable

import click

from photoplug.errors import PhotoplugError
from photoplug.hooks import LocationError, WriteOptions, WriteReport
from photoplug.hooks.protocols import PartlyOffline
from photoplug.model.spec import BACKENDS, DEFAULT_MODEL, DEFAULT_PRETRAINED

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
        click.option("--model", help="open_clip model (`photoplug models` lists them): "
                                     f"{DEFAULT_MODEL} for a new index, local-dir:PATH, "
                                     "hf-hub:ORG/REPO. Default: the one the index recorded."),
        click.option("--pretrained", help=f"open_clip pretrained tag (for {DEFAULT_MODEL}: "
                                          f"{DEFAULT_PRETRAINED})."),
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
            with Photoplug(index=settings["index_path"], model=settings["model"],
                           pretrained=settings["pretrained"], weights=settings["weights"],
                           device=settings["device"], backend=settings["backend"]) as app:
                return command(app, **kwargs)
        except (PhotoplugError, LocationError) as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            note("interrupted: what was indexed so far is kept; run the command again "
                 "to continue")
            sys.exit(130)

    return wrapper


def host_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--force, --wait, --keep-backups and the Lua module's hidden --handoff, with the
    command's own --dry-run (and --sidecars where it has one): how to write into a host,
    passed on to the command as ``writing`` (``WriteOptions``)."""
    @functools.wraps(command)
    def wrapper(*args: Any, force: bool, wait: bool, keep_backups: int | None,
                handoff: str | None, **kwargs: Any) -> Any:
        writing = WriteOptions(dry_run=kwargs.pop("dry_run"), force=force, wait=wait,
                               keep_backups=keep_backups,
                               sidecars=kwargs.pop("sidecars", False),
                               handoff=Path(handoff) if handoff else None)
        return command(*args, writing=writing, **kwargs)

    options = [
        click.option("--force", is_flag=True,
                     help="Write even while digiKam or darktable has the database open."),
        click.option("--wait", is_flag=True, help="If digiKam or darktable has the database "
                                                  "open, wait until it closes, then write."),
        click.option("--keep-backups", type=click.IntRange(1, 1000), metavar="N",
                     help="Keep the newest N backups of the host's database (default 3)."),
        click.option("--handoff", type=click.Path(dir_okay=False), hidden=True,
                     help="darktable's Lua module: put the changes in this file; darktable "
                          "makes them."),
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper



def progress_bar(what: str | None = None
                 ) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    """A tqdm bar on stderr (rate and ETA), created once the total is known."""
    from tqdm import tqdm
    state: dict[str, Any] = {}

    def update(done: int, total: int) -> None:
        if "bar" not in state:
            state["bar"] = tqdm(total=total, unit="photo", file=sys.stderr, smoothing=0.1,
                                disable=None, dynamic_ncols=True, desc=what)
        bar = state["bar"]
        bar.update(done - bar.n)

    def close() -> None:
        if "bar" in state:
            state["bar"].close()

    return update, close


def run_index(app: Any, location: str, cluster: Any = None, text: bool = False,
              **options: Any) -> Any:
    """Index ``location`` (``options``: how the host lists it) with a progress bar; the
    library and the report."""
    library = app.open(location, **options)
    update, close = progress_bar()
    text_update, text_close = progress_bar("text")
    try:
        report = app.index(library, progress=update, cluster=cluster, text=text,
                           text_progress=text_update, note=note)
    finally:
        close()
        text_close()
    note(report.summary())
    for root in (library.offline_roots() if isinstance(library, PartlyOffline) else []):
        note(f"album root not mounted, its photos kept offline: {root}")
    return library, report


def printable(text: str) -> str:
    """A path on one terminal line: control characters shown escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def report(report: WriteReport) -> None:
    prefix = "[dry run] " if report.dry_run else ""
    for change in report.changes:
        note(f"{prefix}{printable(change)}")
    for line in report.notes:
        note(printable(line))
    for error in report.errors:
        note(f"error: {printable(error)}")
    if not report.changes and not report.errors:
        note("nothing to change")
    if report.errors:
        sys.exit(1)


def indexed_library(app: Any, location: str) -> Any:
    """``location`` opened, indexed first where it never was."""
    library = app.open(location)
    if not app.is_indexed(library):
        note(f"{library.uri} is not indexed yet: indexing it first")
        run_index(app, location)
    return library


def vocabulary_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--vocabulary FILE (repeatable), --only-mine and --language: what photos may show,
    passed on to the command as ``concepts``."""
    from photoplug.albums.vocabulary import LANGUAGES

    @functools.wraps(command)
    def wrapper(*args: Any, vocabularies: tuple[str, ...], only_mine: bool,
                language: str | None, **kwargs: Any) -> Any:
        from photoplug.albums.vocabulary import system_language, vocabulary
        concepts = vocabulary([Path(v).expanduser() for v in vocabularies], only_mine,
                              language or system_language())
        return command(*args, concepts=concepts, **kwargs)

    options = [
        click.option("--vocabulary", "vocabularies", multiple=True,
                     type=click.Path(dir_okay=False), envvar="PHOTOPLUG_VOCABULARY",
                     help="A vocabulary file (one concept per line); extends the built-in "
                          "one (or PHOTOPLUG_VOCABULARY, files separated by "
                          f"'{os.pathsep}')."),
        click.option("--only-mine", is_flag=True, envvar="PHOTOPLUG_ONLY_MINE",
                     help="Use only --vocabulary files, not the built-in vocabulary."),
        click.option("--language", type=click.Choice(LANGUAGES),
                     help="The built-in vocabulary's language: keywords as you read them "
                          "(default: the system locale's, else en)."),
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper
