"""The write-back hooks every host implements alike: each answers for its own libraries."""
from __future__ import annotations

from typing import Any, Callable

from photoplug.hooks import HostState, WriteOptions, WritePlan, WriteReport, hookimpl


def library_hooks(library_type: type) -> tuple[Callable[..., Any], ...]:
    """``photoplug_write``, ``photoplug_read_back`` and ``photoplug_undo`` for a host whose
    libraries are ``library_type``: they call the library's own ``write``, ``read_back``
    and ``undo``, and return None for any other library."""

    @hookimpl
    def photoplug_write(library: Any, plan: WritePlan, options: WriteOptions
                        ) -> WriteReport | None:
        return library.write(plan, options) if isinstance(library, library_type) else None

    @hookimpl
    def photoplug_read_back(library: Any, expected: HostState) -> HostState | None:
        return library.read_back(expected) if isinstance(library, library_type) else None

    @hookimpl
    def photoplug_undo(library: Any, options: WriteOptions) -> WriteReport | None:
        return library.undo(options) if isinstance(library, library_type) else None

    return photoplug_write, photoplug_read_back, photoplug_undo
