"""``photoplug index``: bring a location's photos into the index, here or on Ray."""
from __future__ import annotations

import json
from typing import Any

import click

from photoplug.errors import PhotoplugError
from photoplug.cli.options import common_options, note, run_index


@click.command()
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
@click.option("--text/--no-text", default=False, show_default=True,
              help="Also read the text in the photos (OCR: signs, receipts, screens) so "
                   "search finds their words; about 9x the time of encoding a photo, "
                   "on the photos CLIP sees text in (docs/text-in-photos.md).")
@common_options
def index(app: Any, location: str, exclude: tuple[str, ...], hidden: bool, as_json: bool,
          ray_address: str | None, workers: int | None, ship_bytes: bool,
          path_map: tuple[str, ...], text: bool) -> None:
    """Index (or bring up to date) the photos of LOCATION: folder:PATH or a bare path."""
    cluster = None
    if ray_address is not None:
        from photoplug.index.cluster import ClusterOptions
        cluster = ClusterOptions(ray_address or None, ship_bytes,
                                 ClusterOptions.parse_path_map(path_map), workers)
    elif workers or ship_bytes or path_map:
        raise PhotoplugError("--workers, --ship-bytes and --path-map go with --ray")
    _, report = run_index(app, location, cluster, text=text, exclude=exclude,
                          include_hidden=hidden)
    for path, reason in report.skipped:
        note(f"skipped {path!r}: {reason}")
    for path, reason in (report.text.failed if report.text else []):
        note(f"text not read in {path!r}: {reason}")
    if as_json:
        data = {k: v for k, v in vars(report).items() if k not in ("skipped", "text")}
        data["skipped"] = [{"path": p, "reason": r} for p, r in report.skipped]
        data["text"] = report.text.as_json() if report.text else None
        data["rate"] = report.rate
        click.echo(json.dumps(data, indent=1))
