"""``photoplug watch``: keep locations indexed, albums and keywords written as files
arrive, change, move and leave; ``--install`` starts it at login (systemd, launchd)."""
from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click

from photoplug.errors import PhotoplugError
from photoplug.cli.options import common_options, note, vocabulary_options


@click.command()
@click.argument("locations", nargs=-1)
@click.option("--albums", "albums_file", type=click.Path(dir_okay=False),
              help="Album definitions to keep filled (default: the file `albums init` "
                   "wrote, when it exists).")
@click.option("--tag/--no-tag", default=False, show_default=True,
              help="Also keep each photo's keywords up to date (as `photoplug tag`).")
@click.option("--max-tags", type=click.IntRange(1, 50), default=5, show_default=True)
@click.option("--poll", type=click.FloatRange(min=0.5), metavar="SECONDS",
              help="Look for changes every SECONDS instead of the OS's file events "
                   "(network shares, where events do not arrive).")
@click.option("--debounce", type=click.FloatRange(min=0.1), default=2.0, show_default=True,
              metavar="SECONDS", help="Quiet time before a burst of changes is indexed.")
@click.option("--retry", type=click.FloatRange(min=1), default=30.0, show_default=True,
              metavar="SECONDS", help="How often a deferred host write is tried again.")
@click.option("--install", is_flag=True,
              help="Start this watcher at login: a systemd user unit (Linux) or a launchd "
                   "agent (macOS), enabled now.")
@click.option("--uninstall", is_flag=True, help="Stop and remove that unit or agent.")
@vocabulary_options
@common_options
def watch(app: Any, locations: tuple[str, ...], albums_file: str | None, tag: bool,
          max_tags: int, poll: float | None, debounce: float, retry: float, install: bool,
          uninstall: bool, concepts: list[Any]) -> None:
    """Follow LOCATIONS (folders, digiKam, darktable...) and keep them up to date.

    Each burst of changes is indexed once it settles (files still being copied are
    waited for), then smart albums and (with --tag) keywords are written to the host.
    A host that holds its database (digiKam open) gets its write later; search is up
    to date at once. Logs go to stdout and stderr (the journal, under systemd).
    """
    from photoplug.watch import service
    home = Path(os.path.expanduser("~"))
    if uninstall:
        outcome = service.uninstall(home)
        note("\n".join(outcome.lines) if outcome else "no photoplug watcher is installed")
        return
    if not locations:
        raise PhotoplugError("name at least one LOCATION to watch")
    libraries = [app.open(location) for location in locations]
    if install:
        args = _service_args([lib.uri for lib in libraries], app, albums_file)
        try:
            outcome = service.install(service.service_argv(None, args), home)
        except OSError as exc:
            raise PhotoplugError(str(exc)) from None
        note("\n".join(outcome.lines))
        return
    from photoplug.albums.definitions import default_albums_path
    from photoplug.watch.lock import WatchLock
    from photoplug.watch.loop import WatchOptions, Watcher
    albums = Path(albums_file).expanduser() if albums_file else default_albums_path()
    if albums_file and not albums.exists():
        raise PhotoplugError(f"--albums {albums_file}: no such file")
    options = WatchOptions(albums=albums, tag=tag, concepts=concepts, max_tags=max_tags,
                           debounce=debounce, poll=poll, retry=retry)
    with WatchLock(app.index_path):
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        say = _say
        say(f"watching {', '.join(lib.uri for lib in libraries)} (pid {os.getpid()}, "
            f"{'polling every %g s' % poll if poll else 'file events'}); index "
            f"{app.index_path}")
        try:
            Watcher(app, libraries, options, say).run(stop)
        except KeyboardInterrupt:
            pass
        say("watcher stopped")


def _say(line: str) -> None:
    click.echo(line, err=True)
    sys.stderr.flush()


def _service_args(uris: list[str], app: Any, albums_file: str | None) -> list[str]:
    """The options of this command line again, with paths made absolute, for the unit."""
    params = click.get_current_context().params
    args = [*uris, "--index", str(app.index_path.resolve())]
    for name, flag in (("model", "--model"), ("pretrained", "--pretrained"),
                       ("backend", "--backend"), ("language", "--language"),
                       ("poll", "--poll"), ("max_tags", "--max-tags"),
                       ("debounce", "--debounce"), ("retry", "--retry")):
        if params.get(name) is not None:
            args += [flag, f"{params[name]:g}" if isinstance(params[name], float)
                     else str(params[name])]
    if params.get("weights"):
        args += ["--weights", os.path.abspath(params["weights"])]
    if params.get("device", "auto") != "auto":
        args += ["--device", params["device"]]
    if albums_file:
        args += ["--albums", os.path.abspath(os.path.expanduser(albums_file))]
    for vocabulary in params.get("vocabularies") or ():
        args += ["--vocabulary", os.path.abspath(os.path.expanduser(vocabulary))]
    if params.get("only_mine"):
        args.append("--only-mine")
    args.append("--tag" if params.get("tag") else "--no-tag")
    return args
