"""``photoplug serve``: the local search page."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from photoplug.cli.options import common_options, indexed_library, note, vocabulary_options


@click.command()
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
@vocabulary_options
@common_options
def serve(app: Any, locations: tuple[str, ...], host: str, allow_hosts: tuple[str, ...],
          token: str | None, port: int, albums_file: str | None,
          concepts: list[Any]) -> None:
    """A search page with thumbnails (and a JSON API) for LOCATIONS, on this machine only
    unless --host says otherwise."""
    import uvicorn

    from photoplug.web.app import create_app, listen
    from photoplug.web.security import Access, is_loopback, own_token
    token = own_token(token)
    libraries = [indexed_library(app, loc) for loc in locations]
    app.search_engine([lib.uri for lib in libraries])  # loaded once, kept warm
    sock = listen(host, port)
    access = Access.create(host, sock.getsockname()[1], allow_hosts, token)
    web = create_app(app, libraries, access,
                     Path(albums_file).expanduser() if albums_file else None, concepts)
    click.echo("\n".join(access.urls()))
    if not is_loopback(host):
        note("anyone on your network with this URL can search and view these photos")
    sys.stdout.flush()
    uvicorn.Server(uvicorn.Config(web, log_level="warning")).run(sockets=[sock])
