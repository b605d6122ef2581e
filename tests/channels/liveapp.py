"""The app the cross-process channel tests serve in two processes (``keel run``)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

from keel import App, ServerSentEvent, WebSocket
from keel.channels import Channels

app = App()
channels = Channels(app, prefix=os.environ.get("TEST_CHANNELS_PREFIX", "keel:channels:"))


@app.websocket("/rooms/{room}")
async def room(ws: WebSocket, room: str, user: str = "anonymous") -> None:
    await ws.accept()
    await ws.join(room)
    await channels.enter(room, user)
    try:
        async for text in ws:
            await channels.broadcast(room, {"user": user, "text": text})
    finally:
        await channels.exit(room, user)


@app.post("/rooms/{room}/{text}")
async def post(room: str, text: str) -> dict[str, str]:
    await channels.broadcast(room, {"user": "http", "text": text})
    return {"sent": text}


@app.get("/rooms/{room}/members")
async def members(room: str) -> list[str]:
    return await channels.members(room)


@app.get("/rooms/{room}/events")
async def events(room: str) -> AsyncIterator[ServerSentEvent]:
    """The room's messages as server-sent events."""
    async for message in channels.subscribe(room):
        if message.missed:
            yield ServerSentEvent(event="missed")
        else:
            yield ServerSentEvent(message.data, event="message")
