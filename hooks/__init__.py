"""The photoplug contract: hook specifications, the ``hookimpl`` marker and shared types.

A plugin is any module or object with functions decorated by ``hookimpl`` and
registered through the ``photoplug`` entry-point group::

    [project.entry-points.photoplug]
    myadapter = "my_package.photoplug_adapter"
"""
import pluggy

PROJECT = "photoplug"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

from photoplug.hooks.types import (  # noqa: E402  (markers must exist before specs import them)
    Adapter,
    HostState,
    Library,
    LocationError,
    PhotoRef,
    PhotoText,
    Query,
    QueryTerm,
    SearchResult,
    WriteOptions,
    WritePlan,
    WriteReport,
)

__all__ = [
    "PROJECT", "hookspec", "hookimpl", "Adapter", "HostState", "Library", "LocationError", "PhotoRef", "PhotoText",
    "Query", "QueryTerm", "SearchResult", "WriteOptions", "WritePlan", "WriteReport",
]
