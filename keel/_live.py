"""The open websockets and event streams of each app, so that shutdown can end them.

Websockets get close code 1012 (service restart); event streams are told to end. The
server's shutdown (``keel run``/``keel serve``: :class:`keel.server.KeelHttpToolsProtocol`)
and the app's lifespan shutdown both start it; a connection still open after the drain
timeout is left to the server, which cancels it.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from typing import Any, Protocol

__all__ = ["Closable", "begin_shutdown", "drain", "register", "unregister"]


class Closable(Protocol):
    """An open connection that can be asked to end (a websocket or an event stream)."""

    app: Any

    def end(self, code: int) -> None:
        """Start closing (without waiting): websockets with ``code``, streams just end."""


_LIVE: weakref.WeakSet[Any] = weakref.WeakSet()
_closing: set[int] = set()  # ids of the apps shutting down


def register(conn: Closable) -> None:
    """Track ``conn`` until :func:`unregister`; one opened during shutdown ends at once."""
    _LIVE.add(conn)
    if id(conn.app) in _closing:
        conn.end(1012)


def unregister(conn: Closable) -> None:
    """Stop tracking ``conn`` (it has finished)."""
    _LIVE.discard(conn)


def begin_shutdown(app: Any = None) -> None:
    """Ask every open connection of ``app`` (every app: ``None``) to end now."""
    for conn in list(_LIVE):
        if app is None or conn.app is app:
            _closing.add(id(conn.app))
            conn.end(1012)
    if app is not None:
        _closing.add(id(app))


async def drain(app: Any, timeout: float) -> None:
    """End ``app``'s open connections and wait up to ``timeout`` seconds for them to go."""
    begin_shutdown(app)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    with contextlib.suppress(Exception):
        while any(conn.app is app for conn in list(_LIVE)) and loop.time() < deadline:
            await asyncio.sleep(0.01)
    _closing.discard(id(app))
