"""Fan-out with keel: every client joins one group; a publisher broadcasts through
keel.channels (in-memory), each connection's bounded send queue absorbing slow readers."""

from __future__ import annotations

import asyncio
import json
import time

from keel import App, WebSocket
from keel.channels import Channels
from keel.settings import Settings

app = App(settings=Settings(ws_idle_timeout=None, ws_receive_rate=None))
channels = Channels(app)
tasks: set[asyncio.Task[None]] = set()


@app.websocket("/ws")
async def subscriber(ws: WebSocket) -> None:
    await ws.accept()
    await ws.join("all")
    async for _ in ws:
        pass


async def publish(rate: float, seconds: float, size: int) -> None:
    pad = "x" * size
    start = time.monotonic()
    seq = 0
    while time.monotonic() - start < seconds:
        seq += 1
        await channels.broadcast("all", json.dumps({"t": time.time(), "seq": seq, "pad": pad}))
        if rate > 0:
            await asyncio.sleep(max(0.0, start + seq / rate - time.monotonic()))
        else:
            await asyncio.sleep(0)


@app.post("/publish")
async def start(rate: float = 20, seconds: float = 10, size: int = 64) -> dict[str, int]:
    task = asyncio.get_running_loop().create_task(publish(rate, seconds, size))
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    return {"clients": channels.local_members("all")}


@app.get("/stats")
async def stats() -> dict[str, int]:
    members = channels._groups.get("all", set())
    return {
        "clients": len(members),
        "dropped": sum(ws.dropped for ws in members),
        "max_queued": max((ws.queued for ws in members), default=0),
    }
