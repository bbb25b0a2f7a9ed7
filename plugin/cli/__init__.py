"""The ``photoplug`` command line: one thin module per command group (parse, call the
library API, print). Plugins add their own subcommands through ``photoplug_commands``.

Results go to stdout (a table, ``--json`` or ``--paths``); progress and notes to stderr.
torch and open_clip are imported only by commands that need the model.
"""
from __future__ import annotations

import click

from photoplug import __version__
from photoplug.cli.albums import albums, tag
from photoplug.cli.duplicates import duplicates
from photoplug.cli.index import index
from photoplug.cli.manage import forget, plugins, status, undo
from photoplug.cli.models import models
from photoplug.cli.search import search
from photoplug.cli.serve import serve
from photoplug.cli.watch import watch
from photoplug.plugin_manager import get_plugin_manager


class _Commands(click.Group):
    """The built-in commands at once; the plugins' (``photoplug_commands``) when first
    needed, listing them or running one, so a built-in command loads no plugin early."""

    plugins_added = False

    def _add_plugins(self) -> None:
        if not self.plugins_added:
            self.plugins_added = True
            get_plugin_manager().hook.photoplug_commands(cli=self)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._add_plugins()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        found = super().get_command(ctx, name)
        if found is None:
            self._add_plugins()
            found = super().get_command(ctx, name)
        return found


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="photoplug")
def main() -> None:
    """Find your own photos by what they show (CLIP, offline, on your CPU)."""


for _command in (index, search, albums, tag, duplicates, serve, status, forget, undo, plugins,
                 models, watch):
    main.add_command(_command)
