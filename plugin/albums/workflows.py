"""The two use cases the CLI and the page share: fill smart albums, and auto-tag photos.

Each reads the library's vectors, learns the user's corrections from the host, decides
membership per photo and returns what it decided with a ``write()`` that applies it
(one plan, one transaction); printing is left to the caller.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Collection

import numpy as np

from photoplug.albums.definitions import AlbumDef
from photoplug.albums.membership import AlbumResult, TagResult, albums_members, auto_tags
from photoplug.albums.vocabulary import Concept
from photoplug.albums.writeback import WriteBack
from photoplug.hooks import Library, WriteOptions, WriteReport


@dataclass
class AlbumSync:
    """Each album's members (rows of ``rows``: path, id, location, host_ref)."""

    results: list[AlbumResult]
    rows: list[tuple]
    logit_scale: float
    seconds: float
    writeback: WriteBack

    def members(self, result: AlbumResult) -> set[str]:
        return {self.rows[i][1] for i in result.members}

    def write(self) -> WriteReport:
        """Every album as decided, in one write (the user's corrections win)."""
        return self.writeback.write(albums={r.album.name: self.members(r)
                                            for r in self.results})


def sync_albums(app: Any, library: Library, definitions: list[AlbumDef],
                concepts: list[Concept], options: WriteOptions,
                resets: Collection[str] = ()) -> AlbumSync:
    """Decide every album of ``definitions`` over ``library``'s indexed photos; the
    result writes as ``options`` say."""
    started = time.perf_counter()
    engine, matrix, rows = app.library_vectors(library)
    writeback = WriteBack(app, library, options, reset_albums=resets)
    corrections = writeback.membership_corrections([a.name for a in definitions],
                                                   [r[1] for r in rows])
    encoders = app.encoders(engine)
    results = albums_members(definitions, matrix, encoders, concepts, corrections)
    return AlbumSync(results, rows, encoders.logit_scale, time.perf_counter() - started,
                     writeback)


@dataclass
class AutoTags:
    """Keywords per stable id, strongest first, and why (with ``explain``)."""

    keywords: dict[str, list[str]]
    result: TagResult
    rows: list[tuple]
    row_of: dict[str, int]
    logit_scale: float
    seconds: float
    writeback: WriteBack
    concepts: int = 0
    extra: dict[str, list[str]] = field(default_factory=dict)

    def write(self) -> WriteReport:
        """Every photo's keywords in one write; photoplug's stale auto-tags come off."""
        auto: dict[str, set[str]] = {}
        for sid, words in self.keywords.items():
            for word in words:
                auto.setdefault(word, set()).add(sid)
        return self.writeback.write(auto=auto)


def auto_tag(app: Any, library: Library, concepts: list[Concept], max_tags: int,
             explain: bool, options: WriteOptions) -> AutoTags:
    """Keywords for every indexed photo of ``library`` from ``concepts`` and the installed
    taggers (``photoplug_taggers``), keeping keywords the user took off away."""
    started = time.perf_counter()
    engine, matrix, rows = app.library_vectors(library)
    writeback = WriteBack(app, library, options)
    row_of = {r[1]: i for i, r in enumerate(rows)}
    taken_off = {c.keyword: {row_of[s] for s in writeback.taken_off(c.keyword) if s in row_of}
                 for c in concepts}
    encoders = app.encoders(engine)
    result = auto_tags(concepts, matrix, encoders, max_tags, taken_off, explain)
    keywords = {rows[i][1]: words for i, words in enumerate(result.keywords) if words}
    _add_plugin_tags(app, keywords, [r[1] for r in rows], matrix, encoders.texts)
    return AutoTags(keywords, result, rows, row_of, encoders.logit_scale,
                    time.perf_counter() - started, writeback, len(concepts))


def _add_plugin_tags(app: Any, keywords: dict[str, list[str]], ids: list[str],
                     matrix: np.ndarray, encode_texts: Any) -> None:
    """Each installed tagger's keywords after the vocabulary's."""
    for tagger in [t for batch in app.pm.hook.photoplug_taggers() for t in batch]:
        for sid, words in tagger.tag(ids, matrix, encode_texts).items():
            keywords.setdefault(sid, [])
            keywords[sid] += [w for w in words if w not in keywords[sid]]
