"""``photoplug duplicates``: groups of near-identical photos and the copy to keep."""
from __future__ import annotations

import json
from typing import Any

import click

from photoplug.cli.options import (common_options, host_options, indexed_library, note,
                                   printable, progress_bar, report)


@click.command()
@click.argument("location")
@click.option("--write", is_flag=True,
              help="Record the groups in the host: a keyword duplicates/group-… per group "
                   "and duplicates/suggested-keep (photoplug's namespace; `undo` removes "
                   "them).")
@click.option("--dry-run", is_flag=True, help="With --write: show the changes, write nothing.")
@click.option("--json", "as_json", is_flag=True, help="The groups as JSON.")
@host_options
@common_options
def duplicates(app: Any, location: str, write: bool, dry_run: bool, as_json: bool,
               host: dict[str, Any]) -> None:
    """Find groups of near-identical photos in LOCATION (resized, recompressed, a little
    cropped, exposure changed, RAW and JPEG, bursts) and suggest the copy to keep.

    Nothing is ever deleted or moved, and no rating or label changed.
    """
    from photoplug.duplicates.workflow import find_duplicates
    library = indexed_library(app, location, **host)
    update, close = progress_bar("looks")
    try:
        found = find_duplicates(app, library, dry_run or not write, update)
    finally:
        close()
    for path, reason in found.skipped:
        note(f"skipped {printable(path)}: {printable(reason)}")
    note(f"{len(found.groups)} groups among {found.photos} photos ({found.measured} "
         f"measured now) in {found.seconds:.2f} s")
    if as_json:
        click.echo(json.dumps([g.as_json() for g in found.groups], ensure_ascii=False,
                              indent=1))
    else:
        _print_groups(found.groups)
    if write:
        report(found.write())


def _print_groups(groups: list[Any]) -> None:
    for g in groups:
        keep = g.members[g.keep].copy.path.name
        click.echo(f"{g.keyword.rsplit('/', 1)[-1]}  {len(g.members)} photos  keep "
                   f"{printable(keep)}: {printable(g.reason)}")
        for n, m in enumerate(g.members):
            look = m.copy.look
            click.echo(f"  {'*' if n == g.keep else ' '} {look.width:>5}x{look.height:<5} "
                       f"{m.copy.size:>11,} B  {printable(str(m.copy.path))}")
