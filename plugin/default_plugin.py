"""The built-in CLIP plugin: the open_clip model backend, indexing and exact search, and
reading the text in photos (rapidocr).

Registered through the ``photoplug`` entry-point group like any third-party plugin;
its implementations are ``trylast`` so a plugin can take over any of them.
"""
from __future__ import annotations

from typing import Any, Callable, Collection, Mapping

from photoplug.hooks import Library, Query, SearchResult, hookimpl


@hookimpl(trylast=True)
def photoplug_load_model(name: str, pretrained: str | None, weights: str | None,
                         device: str, backend: str) -> Any:
    from photoplug.model.engine import load_engine
    from photoplug.model.spec import ModelSpec
    return load_engine(ModelSpec.build(name, pretrained, weights, backend), device)


@hookimpl(trylast=True)
def photoplug_index(library: Library, store: Any, engine: Any,
                    progress: Callable[[int, int], None] | None) -> Any:
    from photoplug.index.indexer import index_library
    return index_library(library, store, engine, progress)


@hookimpl(trylast=True)
def photoplug_search(query: Query, store: Any, engine: Any, locations: list[str], top: int,
                     only: Mapping[str, Collection[str]] | None) -> list[SearchResult]:
    from photoplug.search import search
    return search(query, store, engine, locations, top, only)


@hookimpl(trylast=True)
def photoplug_read_text(time_limit: float) -> Any:
    from photoplug.text.reader import RapidReader
    return RapidReader(time_limit=time_limit)
