"""The plugin manager: built-in and third-party plugins, all found through entry points."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import pluggy

from photoplug.hooks import PROJECT, Adapter, Library, LocationError, specs


@lru_cache(maxsize=1)
def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide manager, with every ``photoplug`` entry point loaded."""
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(specs)
    pm.load_setuptools_entrypoints(PROJECT)
    return pm


@dataclass(frozen=True)
class PluginInfo:
    name: str
    package: str
    version: str
    hooks: tuple[str, ...]


def list_plugins(pm: pluggy.PluginManager | None = None) -> list[PluginInfo]:
    """Every registered plugin with the distribution that provides it and its hooks."""
    pm = pm or get_plugin_manager()
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    infos = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        dist = dists.get(id(plugin))
        hooks = tuple(sorted(h.name for h in pm.get_hookcallers(plugin) or []))
        infos.append(PluginInfo(
            name=name,
            package=dist.project_name if dist else "(registered in code)",
            version=dist.version if dist else "",
            hooks=hooks,
        ))
    return sorted(infos, key=lambda i: i.name)


def adapters(pm: pluggy.PluginManager | None = None) -> dict[str, Adapter]:
    """Adapters by scheme, from every plugin's ``photoplug_adapters``."""
    pm = pm or get_plugin_manager()
    found: dict[str, Adapter] = {}
    for batch in pm.hook.photoplug_adapters():
        for adapter in batch:
            found.setdefault(adapter.scheme, adapter)
    return found


_SCHEME = re.compile(r"^([a-z][a-z0-9_-]+):(.*)$", re.S)


def split_location(location: str, known: dict[str, Adapter]) -> tuple[str, str]:
    """``scheme:target``; a string without a scheme prefix (or an existing path) is a folder."""
    match = _SCHEME.match(location)
    if not match or Path(location).expanduser().exists():
        return "folder", location
    scheme, target = match.groups()
    if scheme not in known:
        raise LocationError(f"no adapter for '{scheme}:' (installed: {', '.join(sorted(known))});"
                            f" see `photoplug plugins`")
    return scheme, target


def open_library(location: str, pm: pluggy.PluginManager | None = None,
                 **options: Any) -> Library:
    """Open a location string through the adapter that owns its scheme."""
    known = adapters(pm)
    scheme, target = split_location(location, known)
    if scheme not in known:
        raise LocationError("no folder adapter is installed; see `photoplug plugins`")
    return known[scheme].open(target, **options)


def apply_rerankers(pm: pluggy.PluginManager, query: Any, results: list) -> list:
    """Run each ``photoplug_rerank`` in turn, feeding each the previous output."""
    for impl in reversed(pm.hook.photoplug_rerank.get_hookimpls()):
        out = impl.function(query=query, results=results)
        if out is not None:
            results = list(out)
    return results
