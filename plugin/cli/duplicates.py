"""``photoplug duplicates``: groups of near-identical photos and the copy to keep."""
from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import click

from photoplug.errors import PhotoplugError
from photoplug.hooks import WriteOptions
from photoplug.cli.options import (common_options, host_options, indexed_library, note,
                                   printable, progress_bar, report)


@click.command()
@click.argument("location")
@click.option("--write", is_flag=True,
              help="Record the groups in the host: a keyword duplicates/group-… per group "
                   "and duplicates/suggested-keep (photoplug's namespace; `undo` removes "
                   "them).")
@click.option("--mark-others", type=click.Choice(["rejected"]),
              help="With --write: mark every copy but the one to keep rejected (digiKam's "
                   "pick label, darktable's reject); `undo` gives each its mark back.")
@click.option("--dry-run", is_flag=True, help="With --write: show the changes, write nothing.")
@click.option("--json", "as_json", is_flag=True, help="The groups as JSON.")
@host_options
@common_options
def duplicates(app: Any, location: str, write: bool, mark_others: str | None, as_json: bool,
               writing: WriteOptions) -> None:
    """Find groups of near-identical photos in LOCATION (resized, recompressed, a little
    cropped, exposure changed, RAW and JPEG, bursts) and suggest the copy to keep.

    Nothing is ever deleted or moved, and no rating or label changed unless asked
    (--mark-others rejected).
    """
    from photoplug.duplicates.workflow import find_duplicates
    if mark_others and not write:
        raise PhotoplugError("--mark-others needs --write")
    library = indexed_library(app, location)
    update, close = progress_bar("looks")
    try:
        found = find_duplicates(app, library, writing if write else
                                replace(writing, dry_run=True), update, bool(mark_others))
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
