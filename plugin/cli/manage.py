"""What the index and the installation hold: status, forget, undo, plugins."""
from __future__ import annotations

import json
import time
from typing import Any

import click

from photoplug.errors import PhotoplugError
from photoplug.hooks import LocationError, WriteOptions
from photoplug.hooks.protocols import Noted
from photoplug.model.spec import ModelSpec
from photoplug.cli.options import common_options, host_options, note, printable, report


@click.command()
@click.argument("location", required=False)
@click.option("--json", "as_json", is_flag=True)
@common_options
def status(app: Any, location: str | None, as_json: bool) -> None:
    """What the index holds: locations, model, counts; with LOCATION, the skipped files."""
    from photoplug.index.text_store import counts as text_counts
    from photoplug.watch.lock import watcher_summary
    if not app.index_path.exists():
        raise PhotoplugError(f"no index at {app.index_path} yet: run `photoplug index LOCATION`")
    rows = app.store.locations()
    models = _with_models(app, rows)
    if location:
        uri = app.open(location).uri
        rows = [r for r in rows if r["location"] == uri]
        if not rows:
            raise PhotoplugError(f"{uri} is not in the index {app.index_path}")
    if as_json:
        for r in rows:
            r["notes"] = _library_notes(app, r["location"])
            r["not_read"] = _not_read(app, r["id"])
            r["text"] = text_counts(app.store, r["id"])
            r["skipped_files"] = [{"path": p, "reason": why}
                                  for p, why in app.store.skipped(r["id"])] if location else None
        click.echo(json.dumps({"index": str(app.index_path), "locations": rows,
                               "models": [vars(m) for m in models]}, indent=1))
        return
    click.echo(f"index: {app.index_path}")
    click.echo(watcher_summary(app.index_path))
    for m in models:
        if not (m.searched_by or m.next_for) and m.vectors:
            click.echo(f"old vectors: {m.vectors} of {_label(vars(m))}, searched by no "
                       f"location: `photoplug forget --model {m.name}"
                       + (f" --pretrained {m.pretrained.partition('#')[0]}" if m.pretrained
                          else "") + "` drops them")
    for r in rows:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["indexed_at"])) \
            if r["indexed_at"] else "never"
        model = ModelSpec.from_recorded(r["model"], r["pretrained"]).label if r["model"] \
            else "-"
        state = "online" if r["online"] else "OFFLINE"
        click.echo(f"{printable(r['location'])}\n  {state}; model {model}; indexed {when}\n"
                   f"  {r['indexed']} photos searchable"
                   + (f" ({r['videos']} of them videos)" if r["videos"] else "")
                   + f", {r['pending']} pending, "
                   f"{r['skipped']} skipped")
        if r["next_model"]:
            n = r["next_model"]
            click.echo(f"  re-indexing with {_label(n)}: {n['indexed']} of "
                       f"{n['indexed'] + n['missing']} photos; searches use {model} until it "
                       f"holds every one (`photoplug index` continues)")
        texts = text_counts(app.store, r["id"])
        if texts["read"] + texts["gated"] + texts["failed"]:
            click.echo(f"  text: {texts['read']} photos read, {texts['text']} with text, "
                       f"{texts['gated']} judged without text, {texts['failed']} failed")
        for line in _library_notes(app, r["location"]):
            click.echo(f"  {line}")
        unread = _not_read(app, r["id"])
        if unread:
            click.echo(f"  {sum(unread.values())} of the skipped are of formats photoplug does "
                       f"not read: " + ", ".join(f"{n} {ext}" for ext, n in unread.items()))
        if location:
            for path, why in app.store.skipped(r["id"]):
                click.echo(f"    skipped {printable(path)}: {why}")


def _with_models(app: Any, rows: list[dict[str, Any]]) -> list[Any]:
    """Add to each location the model it is being re-indexed with (``next_model``: name,
    pretrained, photos it holds and lacks) or None; return every model the index holds."""
    from photoplug.index.model_switch import missing, searchable, stored_models
    models = stored_models(app.store)
    by_id = {m.id: m for m in models}
    for r in rows:
        upcoming = by_id.get(r.pop("next_model_id"))
        r["next_model"] = upcoming and dict(
            name=upcoming.name, pretrained=upcoming.pretrained,
            indexed=searchable(app.store, r["id"], upcoming.id),
            missing=missing(app.store, r["id"], upcoming.id))
    return models


def _label(model: dict[str, Any]) -> str:
    return ModelSpec.from_recorded(model["name"], model["pretrained"]).label


def _not_read(app: Any, location_id: int) -> dict[str, int]:
    """Files skipped for their format, counted by extension, most first."""
    from photoplug.media.formats import NOT_READ
    counts: dict[str, int] = {}
    for _, why in app.store.skipped(location_id):
        if why.startswith(NOT_READ):
            ext = why[len(NOT_READ):].strip(" ()")
            counts[ext] = counts.get(ext, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _library_notes(app: Any, uri: str) -> list[str]:
    """What the host adapter has to say about a location (how photos are identified...)."""
    try:
        library = app.open(uri)
    except LocationError:
        return []
    return list(library.notes()) if isinstance(library, Noted) else []


@click.command()
@click.argument("location", required=False)
@common_options
def forget(app: Any, location: str | None) -> None:
    """Drop LOCATION and its embeddings from the index, or with --model (no LOCATION) the
    vectors of a model no location is searched with any more (nothing in a library
    changes)."""
    if not app.index_path.exists():
        raise PhotoplugError(f"no index at {app.index_path} yet")
    if app.explicit:
        if location:
            raise PhotoplugError("give a LOCATION to forget, or --model to forget a model's "
                                 "vectors, not both")
        _forget_model(app)
        return
    if not location:
        raise PhotoplugError("give a LOCATION to forget, or --model OLD to drop an old "
                             "model's vectors")
    uri = app.open(location).uri
    location_id = app.store.location_id(uri)
    if location_id is None:
        raise PhotoplugError(f"{uri} is not in the index {app.index_path}")
    note(f"forgot {uri}: {app.store.forget(location_id)} photos")


def _forget_model(app: Any) -> None:
    from photoplug.index.model_switch import forget_model, stored_models
    spec = app.requested
    exact = app.backend is not None  # --backend given: that variant only (int8 is its own)
    matches = [m for m in stored_models(app.store) if m.name == spec.name and (
        m.pretrained == spec.recorded_pretrained if exact
        else m.pretrained.partition("#")[0] == spec.recorded_pretrained.partition("#")[0])]
    if not matches:
        raise PhotoplugError(f"the index holds no vectors of {spec.label}")
    dropped, called_off = forget_model(app.store, matches)
    note(f"dropped {dropped} vectors of {spec.label}")
    for uri in called_off:
        note(f"{printable(uri)} stays with the model it is searched with (the switch to "
             f"{spec.label} is called off)")


@click.command()
@click.argument("location")
@click.option("--dry-run", is_flag=True, help="Show what would be removed.")
@host_options
@common_options
def undo(app: Any, location: str, writing: WriteOptions) -> None:
    """Remove everything photoplug wrote to LOCATION (keywords, albums), and nothing else."""
    report(app.undo(app.open(location), writing))


# -- plugins --------------------------------------------------------------------------

@click.command()
@click.option("--json", "as_json", is_flag=True)
def plugins(as_json: bool) -> None:
    """List loaded plugins and adapters with their versions and hooks."""
    from photoplug.plugin_manager import adapters, list_plugins
    infos = list_plugins()
    if as_json:
        click.echo(json.dumps([vars(i) for i in infos], indent=1))
        return
    for info in infos:
        click.echo(f"{info.name}  ({info.package} {info.version})\n  hooks: "
                   f"{', '.join(info.hooks)}")
    click.echo("adapters: " + ", ".join(f"{a.scheme}: ({a.description})"
                                        for a in adapters().values()))
