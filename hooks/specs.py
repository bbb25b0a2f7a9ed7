"""Hook specifications: the contract between hosts, the CLIP plugin and extensions.

Hosts (adapters) implement ``photoplug_adapters``, ``photoplug_write``,
``photoplug_read_back`` and ``photoplug_undo``.
The built-in CLIP plugin implements ``photoplug_load_model``, ``photoplug_index`` and
``photoplug_search``; a third party may replace any of them (``tryfirst=True``) or add
result post-processing with ``photoplug_rerank``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Collection, Mapping

from photoplug.hooks import hookspec

if TYPE_CHECKING:
    from photoplug.hooks.protocols import Engine, TextReader
    from photoplug.hooks.types import (Adapter, HostState, Library, Query, SearchResult,
                                       WriteOptions, WritePlan, WriteReport)


# -- hosts ---------------------------------------------------------------------------

@hookspec
def photoplug_adapters() -> list[Adapter]:
    """Return the adapters (host types) this plugin provides."""


@hookspec(firstresult=True)
def photoplug_write(library: Library, plan: WritePlan, options: WriteOptions
                    ) -> WriteReport | None:
    """Apply ``plan`` (keywords to add and take off, albums to set) to ``library`` at once:
    one transaction and one backup where the host has a database. Keywords and albums go
    under photoplug's namespace; recorded so undo can reverse them. ``options`` say how
    (``dry_run``: only report; ``force``, ``wait``, ``keep_backups``, ``sidecars``,
    ``handoff``: what applies to this host).

    Return None when ``library`` is not yours.
    """


@hookspec(firstresult=True)
def photoplug_read_back(library: Library, expected: HostState) -> HostState | None:
    """What photoplug's namespace in ``library`` holds now, for at least the albums and
    keywords (and the photos) of ``expected``: photoplug compares it with what it wrote
    to learn the user's corrections. Return None when ``library`` is not yours.
    """


@hookspec(firstresult=True)
def photoplug_undo(library: Library, options: WriteOptions) -> WriteReport | None:
    """Remove everything photoplug wrote to ``library``, and nothing else, as
    ``photoplug_write`` writes (the same ``options``)."""


# -- the plugin: model, index, search -------------------------------------------------

@hookspec(firstresult=True)
def photoplug_load_model(name: str, pretrained: str | None, weights: str | None,
                         device: str, backend: str) -> Engine | None:
    """Return an engine (``photoplug.hooks.protocols.Engine``) for this model, or None.

    ``backend`` says what computes image embeddings (``auto``, ``torch``, ``openvino``,
    ``onnx``, ``int8``). Exact runtimes checked against torch make one model's vectors;
    an engine records int8 in its ``identity``, so those vectors never mix with them."""


@hookspec(firstresult=True)
def photoplug_index(library: Library, store: Any, engine: Engine,
                    progress: Callable[..., Any] | None) -> Any:
    """Bring ``store``'s entries for ``library`` up to date; return an ``IndexReport``."""


@hookspec(firstresult=True)
def photoplug_search(query: Query, store: Any, engine: Engine, locations: list[str], top: int,
                     only: Mapping[str, Collection[str]] | None) -> list[SearchResult]:
    """Return the ``top`` best results for ``query`` among ``locations``, best first.

    ``only``, when given, limits a location to those stable ids (a host's filters).
    """


@hookspec(firstresult=True)
def photoplug_read_text(time_limit: float) -> TextReader | None:
    """Return a text reader (``photoplug.hooks.protocols.TextReader``: OCR) for
    ``photoplug index --text``, or None. ``read(path)`` gives a photo's lines of text; a
    photo that takes more than ``time_limit`` seconds, or crashes the engine, comes back
    failed with the reason. Its ``identity`` is recorded with every photo's text: photos
    read by another identity are read again."""


@hookspec
def photoplug_taggers() -> list[Any]:
    """Return taggers for ``photoplug tag``: objects with a ``name`` and
    ``tag(ids, vectors, encode_texts) -> {id: keywords}``, where ``vectors`` are the
    photos' normalised embeddings (rows in ``ids`` order) and ``encode_texts(list)``
    gives normalised text embeddings of the same model (cached)."""


@hookspec
def photoplug_rerank(query: Query, results: list[SearchResult]) -> list[SearchResult] | None:
    """Post-process results: return a new list (re-ordered, filtered, re-scored) or None.

    Re-rankers are applied one after another; each sees the previous one's output.
    """


# -- the command line ------------------------------------------------------------------

@hookspec
def photoplug_commands(cli: Any) -> None:
    """Add subcommands to the ``photoplug`` command line: ``cli`` is its ``click.Group``
    (``cli.add_command(my_group)``), as ``llm`` and ``datasette`` plugins do."""
