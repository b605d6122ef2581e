"""Run an app's startup and shutdown outside a server (``keel worker``, ``keel tasks``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

__all__ = ["running"]


@contextlib.asynccontextmanager
async def running(app: Any) -> AsyncIterator[None]:
    """Send the ASGI lifespan events to ``app`` around the block."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def receive() -> dict[str, Any]:
        return await inbox.get()

    async def send(message: dict[str, Any]) -> None:
        await outbox.put(message)

    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    server = asyncio.create_task(app(scope, receive, send))
    await inbox.put({"type": "lifespan.startup"})
    reply = await outbox.get()
    if reply["type"] != "lifespan.startup.complete":
        await server
        raise RuntimeError(f"the app failed to start: {reply.get('message', '')}")
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        reply = await outbox.get()
        await server
        if reply["type"] != "lifespan.shutdown.complete":
            raise RuntimeError(f"the app failed to shut down: {reply.get('message', '')}")
