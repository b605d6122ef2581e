"""Fan-out with FastAPI's documented ConnectionManager: a loop awaiting each send in turn."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

app = FastAPI()


class ConnectionManager:
    def __init__(self) -> None:
        self.active_connections: list[WebSocket] = []

    async def connect(self, websocket: WebSocket) -> None:
        await websocket.accept()
        self.active_connections.append(websocket)

    def disconnect(self, websocket: WebSocket) -> None:
        self.active_connections.remove(websocket)

    async def broadcast(self, message: str) -> None:
        for connection in list(self.active_connections):
            with contextlib.suppress(Exception):  # a client gone meanwhile
                await connection.send_text(message)


manager = ConnectionManager()
tasks: set[asyncio.Task[None]] = set()


@app.websocket("/ws")
async def subscriber(websocket: WebSocket) -> None:
    await manager.connect(websocket)
    try:
        while True:
            await websocket.receive_text()
    except WebSocketDisconnect:
        manager.disconnect(websocket)


async def publish(rate: float, seconds: float, size: int) -> None:
    pad = "x" * size
    start = time.monotonic()
    seq = 0
    while time.monotonic() - start < seconds:
        seq += 1
        await manager.broadcast(json.dumps({"t": time.time(), "seq": seq, "pad": pad}))
        if rate > 0:
            await asyncio.sleep(max(0.0, start + seq / rate - time.monotonic()))
        else:
            await asyncio.sleep(0)


@app.post("/publish")
async def start(rate: float = 20, seconds: float = 10, size: int = 64) -> dict[str, int]:
    task = asyncio.get_running_loop().create_task(publish(rate, seconds, size))
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    return {"clients": len(manager.active_connections)}


@app.get("/stats")
async def stats() -> dict[str, int]:
    return {"clients": len(manager.active_connections), "dropped": 0, "max_queued": 0}
