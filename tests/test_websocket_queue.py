"""A connection's bounded send queue: each policy, counted drops, and the idle timeout."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from keel import App, WebSocket
from keel.settings import Settings
from keel.testing import TestClient
from keel.websockets import WebSocketDisconnect

seen: dict[str, Any] = {}


def app_with(**settings: Any) -> App:
    app = App(settings=Settings(ws_send_queue_size=3, **settings))

    @app.websocket("/burst")
    async def burst(ws: WebSocket) -> None:
        await ws.accept()
        accepted = [ws.push(str(i)) for i in range(10)]  # no await: the writer has no turn
        seen["accepted"] = accepted
        seen["queued"] = ws.queued
        seen["dropped"] = ws.dropped
        async for _ in ws:  # until the client leaves
            pass

    @app.websocket("/chatty")
    async def chatty(ws: WebSocket) -> None:
        await ws.accept()
        for _ in range(6):  # outbound traffic keeps an idle-timed connection alive
            await asyncio.sleep(0.05)
            await ws.send_text("tick")
        async for _ in ws:  # the idle timeout ends it
            pass

    return app


def drain(ws: Any, count: int) -> list[str]:
    return [ws.receive_text() for _ in range(count)]


def test_drop_oldest_keeps_the_newest() -> None:
    with TestClient(app_with()) as client, client.websocket_connect("/burst") as ws:
        assert drain(ws, 3) == ["7", "8", "9"]
        assert seen == {"accepted": [True] * 10, "queued": 3, "dropped": 7}


def test_drop_newest_keeps_the_oldest() -> None:
    app = app_with(ws_send_queue_policy="drop_newest")
    with TestClient(app) as client, client.websocket_connect("/burst") as ws:
        assert drain(ws, 3) == ["0", "1", "2"]
        assert seen == {"accepted": [True] * 3 + [False] * 7, "queued": 3, "dropped": 7}


def test_close_policy_closes_with_1013() -> None:
    app = app_with(ws_send_queue_policy="close")
    with TestClient(app) as client, client.websocket_connect("/burst") as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            while True:
                ws.receive_text()
        assert closed.value.code == 1013
        assert seen["accepted"][3:] == [False] * 7


def test_outbound_traffic_keeps_an_idle_timed_connection_open() -> None:
    app = app_with(ws_idle_timeout=0.2)
    with TestClient(app) as client, client.websocket_connect("/chatty") as ws:
        assert drain(ws, 6) == ["tick"] * 6  # 0.3 s in all, each gap under 0.2 s
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 1001
