"""Waiting for a host application (digiKam, darktable) to close its database."""
from __future__ import annotations

import sys
from typing import Any, Callable

import psutil

POLL_SECONDS = 2.0


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def wait_while(running: Callable[[], Any], say: Callable[[str], None] = _stderr) -> None:
    """Return once ``running()`` finds no process (it returns one with a ``pid``, or
    None), saying once that it waits (Ctrl-C stops)."""
    said = False
    while (process := running()) is not None:
        if not said:
            say(f"{process}: waiting for it to close…")
            said = True
        try:
            psutil.Process(process.pid).wait(timeout=POLL_SECONDS)
        except (psutil.TimeoutExpired, psutil.NoSuchProcess):
            pass
