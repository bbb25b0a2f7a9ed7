"""``photoplug darktable install|uninstall``: added to the CLI through ``photoplug_commands``."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

import click

from photoplug.adapters.darktable.db import config_dir
from photoplug.adapters.darktable.lua_module import install, uninstall
from photoplug.hooks import LocationError


@click.group()
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
    try:
        for line in install(Path(configdir).expanduser() if configdir else config_dir()):
            click.echo(line, err=True)
    except (LocationError, OSError) as exc:
        click.echo(f"photoplug: error: {exc}", err=True)
        sys.exit(1)


@darktable.command("uninstall")
@_darktable_configdir
def darktable_uninstall(configdir: str | None) -> None:
    """Take the module out again (photoplug's tags stay: `photoplug undo darktable:`)."""
    try:
        for line in uninstall(Path(configdir).expanduser() if configdir else config_dir()):
            click.echo(line, err=True)
    except (LocationError, OSError) as exc:
        click.echo(f"photoplug: error: {exc}", err=True)
        sys.exit(1)
