"""The library API a host (or the CLI) drives: open, index, search, write back, undo.

Every step goes through the plugin manager's hooks, so a plugin that replaces the
model backend, the indexer or the search, or adds a re-ranker, takes effect here.
"""
from __future__ import annotations

import dataclasses
from functools import partial
from pathlib import Path
from typing import Any, Callable, Collection, Mapping

import numpy as np
import pluggy

from photoplug.albums.ledger import Ledger
from photoplug.errors import PhotoplugError
from photoplug.model.image_tower import ImageTower
from photoplug.model.machine import gpu_possible
from photoplug.hooks.protocols import Corrected
from photoplug.hooks import (HostState, Library, LocationError, Query, SearchResult,
                             WriteOptions, WritePlan, WriteReport)
from photoplug.plugin_manager import apply_rerankers, get_plugin_manager, open_library
from photoplug.index.store import IndexStore, default_index_path
from photoplug.model.lazy_engine import LazyEngine
from photoplug.model.text_export import load_text_tower
from photoplug.model.spec import ModelIdentity, ModelSpec, file_digest, find_checkpoint

TEXT_TIME_LIMIT = 30.0  # s a photo may take the text reader before it is skipped


class Photoplug:
    """One index file and the model options the user gave (None: what the index recorded)."""

    def __init__(self, index: str | Path | None = None, model: str | None = None,
                 pretrained: str | None = None, weights: str | None = None,
                 device: str = "auto", pm: pluggy.PluginManager | None = None,
                 backend: str | None = None) -> None:
        self.index_path = Path(index).expanduser() if index else default_index_path()
        self.explicit = bool(model or pretrained or weights)
        self.requested = ModelSpec.build(model, pretrained, weights, backend)
        self.backend = backend  # None: the one the index recorded
        self.device = device
        self.pm = pm or get_plugin_manager()
        self._store: IndexStore | None = None
        self._engines = _Engines(self.pm, device)
        self._lazy_engines: dict[tuple[ModelSpec, ModelIdentity], LazyEngine] = {}

    def close(self) -> None:
        """Give back the index connection and the models' mapped files now (a dropped app
        gives them back too, as soon as nothing else refers to its engines)."""
        if self._store is not None:
            self._store.close()
            self._store = None
        self._engines.loaded.clear()
        self._lazy_engines.clear()

    def __enter__(self) -> Photoplug:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def store(self) -> IndexStore:
        if self._store is None:
            self._store = IndexStore(self.index_path)
        return self._store

    def open(self, location: str, **options: Any) -> Library:
        return open_library(location, self.pm, **options)

    def is_indexed(self, library: Library) -> bool:
        return self.index_path.exists() and self.store.location_id(library.uri) is not None

    # -- the model ------------------------------------------------------------------

    def model_for(self, uris: list[str], upcoming: bool = False) -> ModelSpec:
        """The model to use: the one asked for, else the one these locations answer with
        (``upcoming``: the one a location is being re-indexed with, where it is)."""
        if self.explicit:
            return self.requested
        recorded = self.store.models_of(uris, upcoming)
        if len(recorded) > 1:
            raise PhotoplugError("these locations were indexed with different models; "
                                 "pick one with --model")
        if recorded:
            spec = ModelSpec.from_recorded(*recorded.pop())
            return dataclasses.replace(spec, backend=self.backend) if self.backend else spec
        return self.requested

    def engine(self, spec: ModelSpec) -> Any:
        return self._engines.load(spec)

    def _builtin_backend(self) -> bool:
        """Whether models load through the built-in open_clip backend alone (only then do
        its saved text towers and recorded identities stand for the model): the one
        implementation is that module itself, whatever name it was registered under."""
        from photoplug import default_plugin
        impls = self.pm.hook.photoplug_load_model.get_hookimpls()
        return [i.plugin for i in impls] == [default_plugin]

    def _lazy(self, spec: ModelSpec, identity: ModelIdentity,
              image: ImageTower | None = None) -> LazyEngine:
        key = (spec, identity)
        if key not in self._lazy_engines:
            image = image or ImageTower.load(identity.weights_hash)
            self._lazy_engines[key] = LazyEngine(
                spec, identity, load_text_tower(identity.weights_hash),
                partial(self._engines.load, spec), image,
                self._torch_free_runtime(spec, image))
        return self._lazy_engines[key]

    def _torch_free_runtime(self, spec: ModelSpec, image: ImageTower | None) -> str | None:
        """The runtime that encodes images for ``spec`` without torch, or None: on the CPU
        only (a machine that may have a GPU loads torch to find out)."""
        on_cpu = self.device == "cpu" or (self.device == "auto" and not gpu_possible())
        return image.torch_free(spec.backend) if image and on_cpu else None

    def search_engine(self, uris: list[str]) -> Any:
        """The engine for searching ``uris``: when they were indexed with the model asked
        for and its text tower was saved, one that needs no torch for a text query (the
        full model loads if an image query needs it); else the full engine."""
        spec = self.model_for(uris)
        if spec in self._engines.loaded or not self._builtin_backend():
            return self.engine(spec)
        recorded = self.store.identities_of(uris)
        identity = recorded.pop() if len(recorded) == 1 else None
        if identity is None or (identity.name, identity.pretrained) != (
                spec.name, spec.recorded_pretrained):
            return self.engine(spec)
        engine = self._lazy(spec, identity)
        return engine if engine.tower is not None else self.engine(spec)

    def index_engine(self, uri: str) -> Any:
        """The engine for indexing ``uri``: when the index, or the model's exported image
        tower, knows this model with these very weights (their content hash, cached), one
        that loads torch only if it must (images are encoded by the exported tower where
        the backend allows); else the full engine."""
        spec = self.model_for([uri], upcoming=True)
        if spec in self._engines.loaded or not self._builtin_backend():
            return self.engine(spec)
        try:
            weights_hash = file_digest(find_checkpoint(spec))
        except PhotoplugError:
            return self.engine(spec)  # loading it says what is wrong, in one sentence
        image = ImageTower.load(weights_hash)
        dim = self.store.model_dim(spec.name, spec.recorded_pretrained, weights_hash) or (
            image.dim if image and self._torch_free_runtime(spec, image) else None)
        if not dim:
            return self.engine(spec)
        return self._lazy(spec, ModelIdentity(spec.name, spec.recorded_pretrained,
                                              weights_hash, dim), image)

    def worker_engine(self, spec: ModelSpec, identity: ModelIdentity) -> Any:
        """The engine a cluster worker encodes images with for the driver's model
        ``identity``: the exported image tower of those very weights where this machine
        runs ``spec``'s backend without torch (``index_engine``), else the full model."""
        image = ImageTower.load(identity.weights_hash) if self._builtin_backend() else None
        runtime = self._torch_free_runtime(spec, image)
        if runtime:
            return LazyEngine(spec, identity, None, partial(self._engines.load, spec), image,
                              runtime)
        engine = self.engine(spec)
        if engine.identity != identity:
            raise PhotoplugError(f"the weights of {spec.label} on this worker differ from "
                                 f"the driver's")
        return engine

    # -- index and search -----------------------------------------------------------

    def index(self, library: Library, progress: Any = None, cluster: Any = None,
              text: bool = False, text_progress: Any = None,
              note: Callable[[str], None] | None = None) -> Any:
        """Index ``library``, here or with ``cluster`` (``photoplug.cluster.ClusterOptions``)
        on a Ray cluster; a missing root is an error unless it was indexed before (then its
        photos are kept, marked offline). ``text``: then read the text in its photos."""
        if not library.available() and not self.is_indexed(library):
            raise LocationError(f"{library.uri} does not exist (or is not mounted)")
        engine = self.index_engine(library.uri)
        if cluster is None:
            report = self.pm.hook.photoplug_index(library=library, store=self.store,
                                                  engine=engine, progress=progress)
        else:
            from photoplug.index.cluster import index_on_ray
            report = index_on_ray(library, self.store, engine, self.device, cluster,
                                  worker_engine, progress)
        if hasattr(engine, "text_tower"):
            engine.text_tower()  # saved now (if not yet), so searches start without torch
        self._warm_vectors(library.uri, engine)
        if report.encoded:
            self.warm_vocabulary(engine, note)
        if text and report.online:
            report.text = self.read_text(library, engine, text_progress)
        return report

    def warm_vocabulary(self, engine: Any, note: Callable[[str], None] | None = None) -> None:
        """Encode the built-in vocabulary (the system's language) and the generic prompts
        once per model, so search can judge good matches at once (and tag, albums sync
        start warm): ~1,560 prompts, seconds for a small model, a minute or more for a
        large one on a laptop CPU."""
        from photoplug.albums.vocabulary import system_language, vocabulary
        from photoplug.albums.zero_shot import GENERIC_PROMPTS
        texts = list(dict.fromkeys([p for c in vocabulary([], False, system_language())
                                    for p in c.prompts] + list(GENERIC_PROMPTS)))
        cached = self.store.text_vectors(self.model_id(engine), texts, engine.identity.dim)
        if len(cached) < len(texts) and note:
            note(f"preparing the vocabulary that tells good matches from weak ones: "
                 f"{len(texts) - len(cached)} prompts, once for this model")
        self.text_vectors(engine, texts)

    def read_text(self, library: Library, engine: Any, progress: Any = None) -> Any:
        """Read the text in ``library``'s photos not read yet (``photoplug_read_text``'s
        reader; the CLIP gate chooses which): a ``TextReport``."""
        from photoplug.text.indexing import read_texts
        reader = self.pm.hook.photoplug_read_text(time_limit=TEXT_TIME_LIMIT)
        if reader is None:
            raise PhotoplugError("no installed plugin reads text in photos")
        try:
            with self.store.writer():
                return read_texts(self.store, self.store.location_id(library.uri),
                                  self.model_id(engine), engine.identity.dim, reader,
                                  lambda texts: self.text_vectors(engine, texts), progress)
        finally:
            reader.close()

    def _warm_vectors(self, uri: str, engine: Any) -> None:
        """Write the search matrix caches a next search will want: this location's and,
        when every location shares this model, the all-locations one."""
        model_id = self.model_id(engine)
        scopes = [[uri]]
        if self.store.identities_of(self.store.uris()) == {engine.identity}:
            scopes.append(self.store.uris())
        for scope in scopes:
            ids = [i for i in map(self.store.location_id, scope) if i is not None]
            if ids:
                self.store.vectors(ids, model_id)

    def search_scope(self, locations: list[str] | None) -> list[str]:
        """The locations a search covers: those given, else every indexed one."""
        return locations or self.store.uris()

    def search(self, query: Query, locations: list[str] | None = None, top: int = 10,
               only: Mapping[str, Collection[str]] | None = None, text: str = "auto"
               ) -> list[SearchResult]:
        """Best ``top`` results for ``query`` (all indexed locations when none are given);
        ``only`` restricts a location to these stable ids (host filters); ``text``: match
        the words in photos too ("auto"), alone ("only") or not ("off")."""
        if top < 1:
            raise PhotoplugError("--top must be 1 or more")
        uris = self.search_scope(locations)
        if not uris:
            return []
        engine = self.search_engine(uris)
        ident = engine.identity
        if self.store.find_model_id(ident.name, ident.pretrained, ident.weights_hash) is None:
            raise PhotoplugError(f"nothing here was indexed with {engine.spec.label}; run "
                                 f"`photoplug index LOCATION --model {engine.spec.name}` first")
        has_rerankers = bool(self.pm.hook.photoplug_rerank.get_hookimpls())
        pool = max(top * 2, top + 20) if has_rerankers else top
        results = [] if text == "only" else self.pm.hook.photoplug_search(
            query=query, store=self.store, engine=engine, locations=uris, top=pool, only=only)
        results = self._with_text(engine, query, uris, results, pool, only, text)
        return apply_rerankers(self.pm, query, results)[:top]

    def _with_text(self, engine: Any, query: Query, uris: list[str],
                   results: list[SearchResult], pool: int,
                   only: Mapping[str, Collection[str]] | None, text: str
                   ) -> list[SearchResult]:
        """The step that merges the photos whose text matches into the ranked list
        (``photoplug.text.merge``): CLIP's list untouched when none does."""
        from photoplug.text.merge import MODES, with_text
        if text not in MODES:
            raise PhotoplugError(f"text must be one of {', '.join(MODES)}")
        return with_text(self.store, engine, query, uris, results, pool, only, text)

    # -- vectors for albums and tags ---------------------------------------------------

    def model_id(self, engine: Any) -> int:
        """The index's id of ``engine``'s model (recorded on first use)."""
        ident = engine.identity
        return self.store.model_id(ident.name, ident.pretrained, ident.weights_hash, ident.dim)

    def library_vectors(self, library: Library) -> tuple[Any, np.ndarray, list[tuple]]:
        """The engine, the normalised embedding matrix and (path, id, location, host_ref)
        rows of every indexed photo of ``library``."""
        engine = self.search_engine([library.uri])
        location_id = self.store.location_id(library.uri)
        if location_id is None:
            raise PhotoplugError(f"{library.uri} is not indexed: run `photoplug index` first")
        matrix, rows = self.store.matrix([location_id], self.model_id(engine))
        return engine, matrix, rows

    def encoders(self, engine: Any) -> Any:
        """What albums and tags need from ``engine`` (``membership.Encoders``): cached text
        vectors, examples' vectors and the model's logit scale."""
        from photoplug.albums.membership import engine_encoders
        return engine_encoders(engine, lambda texts: self.text_vectors(engine, texts))

    def text_vectors(self, engine: Any, texts: list[str]) -> np.ndarray:
        """Text embeddings, cached in the index per model: a re-sync encodes nothing."""
        model_id = self.model_id(engine)
        unique = list(dict.fromkeys(texts))
        cached = self.store.text_vectors(model_id, unique, engine.identity.dim)
        missing = [t for t in unique if t not in cached]
        if missing:
            fresh = dict(zip(missing, engine.encode_texts(missing)))
            self.store.put_text_vectors(model_id, fresh)
            cached.update(fresh)
        return np.stack([cached[t] for t in texts]) if texts else \
            np.zeros((0, engine.identity.dim), np.float32)

    # -- write-back -----------------------------------------------------------------

    def _write(self, hook: str, library: Library, **kwargs: Any) -> WriteReport:
        report = getattr(self.pm.hook, hook)(library=library, **kwargs)
        if report is None:
            raise PhotoplugError(f"no installed adapter can write to {library.uri}")
        return report

    def write(self, library: Library, plan: WritePlan,
              options: WriteOptions = WriteOptions()) -> WriteReport:
        """Apply one plan of keywords and albums to ``library`` (one transaction), as
        ``options`` say (a dry run, waiting for the host...)."""
        return self._write("photoplug_write", library, plan=plan, options=options)

    def read_back(self, library: Library, expected: HostState) -> HostState:
        """What photoplug's namespace in ``library`` holds now (empty if the host cannot
        tell)."""
        state = self.pm.hook.photoplug_read_back(library=library, expected=expected)
        return state if state is not None else HostState()

    def undo(self, library: Library, options: WriteOptions = WriteOptions()) -> WriteReport:
        """Remove everything photoplug wrote to ``library``; then its record of the
        user's corrections goes too (nothing of photoplug's is left to correct)."""
        report = self._write("photoplug_undo", library, options=options)
        if isinstance(library, Corrected) and not options.dry_run and not report.errors:
            Ledger(library.ledger_path).forget()
        return report


class _Engines:
    """The full engines loaded so far, one per model. Lazy engines load through this and
    not through the app, so they hold no reference back to it: without that cycle, a
    dropped app closes its index and unmaps its towers at once, not at the next full
    garbage collection."""

    def __init__(self, pm: pluggy.PluginManager, device: str) -> None:
        self.pm = pm
        self.device = device
        self.loaded: dict[ModelSpec, Any] = {}

    def load(self, spec: ModelSpec) -> Any:
        if spec not in self.loaded:
            self.loaded[spec] = self.pm.hook.photoplug_load_model(
                name=spec.name, pretrained=spec.pretrained, weights=spec.weights,
                device=self.device, backend=spec.backend)
        return self.loaded[spec]


def worker_engine(spec: ModelSpec, identity: ModelIdentity, device: str) -> Any:
    """A cluster worker's engine for the driver's model (Ray sends this function by name)."""
    return Photoplug(device=device).worker_engine(spec, identity)
