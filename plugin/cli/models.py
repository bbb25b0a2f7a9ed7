"""``photoplug models``: the recommended models with published quality and the speed
measured on this CPU; ``--measure`` measures; ``models download`` fetches weights and
tokenizer. See docs/models.md."""
from __future__ import annotations

import json
from typing import Any

import click

from photoplug.cli.options import fail, note
from photoplug.errors import PhotoplugError

_ALL = "*"  # --measure without a NAME: every recommended architecture


def _fmt(value: Any, spec: str = "") -> str:
    return "-" if value is None else format(value, spec)


def _quality(row: dict[str, Any]) -> str:
    return ", ".join(f"{q['label']} {q['value']:g}" for q in row["quality"]) or "-"


def _memory(speed: dict[str, Any]) -> str:
    image, text = speed.get("image_memory_mb"), speed.get("text_memory_mb")
    return "-" if image is None and text is None else f"{_fmt(image, '.0f')}/{_fmt(text, '.0f')}"


def _measure(target: str) -> None:
    from photoplug.model.catalog import RECOMMENDED
    from photoplug.model.model_speed import NotMeasurable, measure
    names = list(dict.fromkeys(r.model for r in RECOMMENDED)) if target == _ALL else [target]
    failed = []
    for name in names:
        try:
            measure(name, force=True, progress=lambda m: note(f"photoplug: {m}"))
        except NotMeasurable as exc:
            note(f"photoplug: not measured: {exc}")
            failed.append(name)
    if target != _ALL and failed:
        fail(f"could not measure {target} (see the line above)")


@click.group(invoke_without_command=True)
@click.option("--all", "show_all", is_flag=True, help="Every model open_clip knows.")
@click.option("--json", "as_json", is_flag=True)
@click.option("--measure", "measure", is_flag=False, flag_value=_ALL, default=None,
              metavar="[NAME]", help="Measure speed and memory on this CPU (seeded random "
              "weights, no download): every recommended model, or NAME; cached per CPU.")
@click.pass_context
def models(ctx: click.Context, show_all: bool, as_json: bool, measure: str | None) -> None:
    """Recommended models: family, languages, published quality, speed measured here."""
    if ctx.invoked_subcommand:
        return
    from photoplug.model.catalog import DEFAULT_DOWNLOAD, METRICS, RECOMMENDED, catalog
    from photoplug.model.model_speed import cached_all
    if measure:
        _measure(measure)
    rows = catalog(show_all, cached_all())
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    head = (f"  {'model':<26} {'pretrained':<18} {'family':<17} {'lang':<5} "
            f"{'quality':<36} {'params M':>8} {'photos/s':>8} {'ms/query':>8} "
            f"{'mem MB':>9} local")
    click.echo(head)
    for r in rows:
        speed = r["speed"] or {}
        mark = "*" if r["default"] else " "
        lang = {"multilingual": "multi"}.get(r["languages"], r["languages"] or "-")
        click.echo(f"{mark} {r['model']:<26} {r['pretrained']:<18} {r['family'] or '-':<17} "
                   f"{lang:<5} {_quality(r):<36} {_fmt(speed.get('params_m'), '.1f'):>8} "
                   f"{_fmt(speed.get('photos_per_s'), '.2f'):>8} "
                   f"{_fmt(speed.get('ms_per_query'), '.1f'):>8} {_memory(speed):>9} "
                   f"{'yes' if r['local'] else 'no'}")
    for key, (label, description) in METRICS.items():
        sources = dict.fromkeys(q.source for e in RECOMMENDED for q in e.quality
                                if q.metric == key)
        note(f"{label}: {description}; source: {'; '.join(sources)}")
    measured = [r["speed"] for r in rows if r["speed"]]
    if measured:
        note(f"speed: measured on this CPU with seeded random weights ({measured[0]['cpu']}): "
             f"photos/s in batches of 8, JPEG decoding not included; ms per text query; "
             f"mem MB: resident memory the image runtime / the text tower add")
        for r in rows:
            if r["speed"] and r["speed"].get("text_stand_in"):
                note(f"  {r['model']}: {r['speed']['text_stand_in']}")
    else:
        note("speed: not measured on this CPU yet: `photoplug models --measure` "
             "(a few minutes; no download)")
    note(f"* the default `photoplug models download` fetches ({' '.join(DEFAULT_DOWNLOAD)}); "
         + ("" if show_all else "--all lists every model open_clip knows"))


@models.command("download")
@click.argument("name", required=False)
@click.option("--pretrained", help="The pretrained tag (default: the recommended one).")
def models_download(name: str | None, pretrained: str | None) -> None:
    """Fetch a model's weights and tokenizer into the local caches (needs a network);
    without NAME, the recommended default."""
    from photoplug.model.catalog import DEFAULT_DOWNLOAD, recommended
    from photoplug.model.spec import HF_HUB, LOCAL_DIR, ModelSpec
    if name is None:
        name, pretrained = DEFAULT_DOWNLOAD[0], pretrained or DEFAULT_DOWNLOAD[1]
    elif pretrained is None and recommended(name):
        pretrained = recommended(name)[0].pretrained
    try:
        spec = ModelSpec.build(name, pretrained, None)
    except PhotoplugError as exc:
        fail(str(exc))
    if not spec.name.startswith((LOCAL_DIR, HF_HUB)):
        import open_clip
        if spec.name not in open_clip.list_models():
            fail(f"unknown model '{spec.name}': `photoplug models --all` lists the models "
                 f"open_clip knows")
    path = _download_weights(spec)
    _download_text_files(spec)
    click.echo(str(path))


def _download_weights(spec: Any) -> Any:
    from photoplug.errors import WeightsMissing
    from photoplug.model.spec import find_checkpoint, network_allowed
    online = network_allowed()
    try:
        return find_checkpoint(spec, download=online)
    except WeightsMissing:
        if not online:
            fail(f"cannot download the weights for {spec.label}: this run is offline "
                 f"(HF_HUB_OFFLINE or PHOTOPLUG_OFFLINE is set) and they are not on this "
                 f"machine; run `{spec.download_command}` with a network")
        fail(f"could not download the weights for {spec.label}: this machine cannot reach "
             f"Hugging Face or the model's URL; run this command on a machine with a network")
    except PhotoplugError as exc:
        fail(str(exc))


def _download_text_files(spec: Any) -> None:
    """The tokenizer (and a Hugging Face text tower's configuration) into the Hugging Face
    cache, so the model later loads offline."""
    import logging

    import open_clip

    from photoplug.model.spec import LOCAL_DIR, hub_offline, network_allowed
    if spec.name.startswith(LOCAL_DIR):
        return
    online = network_allowed()
    logging.disable(logging.WARNING)
    try:
        with hub_offline(not online):
            open_clip.get_tokenizer(spec.name)
            hf_model = (open_clip.get_model_config(spec.name) or {}).get(
                "text_cfg", {}).get("hf_model_name")
            if hf_model:
                from transformers import AutoConfig
                AutoConfig.from_pretrained(hf_model)
    except Exception as exc:
        why = ("this run is offline (HF_HUB_OFFLINE or PHOTOPLUG_OFFLINE is set)" if not online
               else f"Hugging Face did not answer ({str(exc).splitlines()[0][:120]})"
               if str(exc).strip() else "Hugging Face did not answer")
        fail(f"the weights for {spec.label} are here but not its tokenizer files: {why}; "
             f"run `{spec.download_command}` again with a network")
    finally:
        logging.disable(logging.NOTSET)
