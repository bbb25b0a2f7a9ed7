"""The ``photoplug`` command line: one thin module per command group (parse, call the
library API, print). Plugins add their own subcommands through ``photoplug_commands``.

Results go to stdout (a table, ``--json`` or ``--paths``); progress and notes to stderr.
torch and open_clip are imported only by commands that need the model.
"""
from __future__ import annotations

import click

from photoplug import __version__
from photoplug.cli.albums import albums, tag
from photoplug.cli.index import index
from photoplug.cli.manage import forget, plugins, status, undo
from photoplug.cli.models import models
from photoplug.cli.search import search
from photoplug.cli.serve import serve
from photoplug.cli.watch import watch
from photoplug.plugin_manager import get_plugin_manager


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="photoplug")
def main() -> None:
    """Find your own photos by what they show (CLIP, offline, on your CPU)."""


for _command in (index, search, albums, tag, serve, status, forget, undo, plugins, models,
                 watch):
    main.add_command(_command)
get_plugin_manager().hook.photoplug_commands(cli=main)
