"""Websockets over a real uvicorn socket, driven by the ``websockets`` client library."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import struct
from collections.abc import Iterator
from typing import Annotated, Any, Literal

import pytest
import uvicorn
from pydantic import BaseModel, Field
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from keel import App, Depends, HTTPError, WebSocket
from keel.channels import Channels
from keel.server import uvicorn_options, websocket_options
from keel.settings import Settings
from tests.live import running


class Say(BaseModel):
    type: Literal["say"]
    text: str = Field(max_length=20)


class Leave(BaseModel):
    type: Literal["leave"]


Inbound = Annotated[Say | Leave, Field(discriminator="type")]


class Said(BaseModel):
    room: str
    text: str


def token_user(ws: WebSocket) -> str:
    if ws.headers.get("authorization") != "Bearer good":
        raise HTTPError(401, "A valid bearer token is required")
    return "alice"


def make_app(**settings: Any) -> tuple[App, Channels]:
    app = App(settings=Settings(**settings))
    channels = Channels(app)

    @app.websocket("/rooms/{room}")
    async def room(ws: WebSocket[Inbound, Said], room: str) -> None:
        await ws.accept()
        async for message in ws:
            if isinstance(message, Leave):
                await ws.close(1000, "bye")
                return
            await ws.send_message(Said(room=room, text=message.text))

    @app.websocket("/private")
    async def private(ws: WebSocket, user: Annotated[str, Depends(token_user)]) -> None:
        await ws.accept()
        await ws.send_text(f"hello {user}")
        await ws.receive_text()

    @app.websocket("/echo")
    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        async for data in ws:
            await ws.send_text(data if isinstance(data, str) else data.hex())

    @app.websocket("/feed")
    async def feed(ws: WebSocket) -> None:
        await ws.accept()
        await ws.join("feed")
        async for _ in ws:
            pass

    @app.post("/publish/{count}")
    async def publish(count: int) -> dict[str, int]:
        for i in range(count):
            await channels.broadcast("feed", f"{i:06d}" + "x" * 1000)
            if i % 50 == 49:
                await asyncio.sleep(0)  # let the writers run, as a real publisher does
        return {"count": count}

    @app.get("/queues")
    async def queues() -> list[dict[str, int]]:
        members = channels._groups.get("feed", set())
        return sorted(
            ({"queued": ws.queued, "dropped": ws.dropped} for ws in members),
            key=lambda row: row["dropped"],
        )

    return app, channels


def serve(app: App) -> Any:
    return running(app, **uvicorn_options(), **websocket_options(app.settings))


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    app, _ = make_app(ws_max_message_size=1024, ws_send_queue_size=100)
    with serve(app) as server:
        yield f"ws://127.0.0.1:{server.config.port}"


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_typed_messages_are_validated_and_answered(url: str) -> None:
    async def go() -> None:
        async with connect(url + "/rooms/42") as ws:
            await ws.send(json.dumps({"type": "say", "text": "hi"}))
            assert json.loads(await ws.recv()) == {"room": "42", "text": "hi"}
            await ws.send(json.dumps({"type": "say", "text": "x" * 50}))
            error = json.loads(await ws.recv())
            assert error["type"] == "error"
            assert error["errors"][0]["loc"] == ["say", "text"]
            assert "x" * 50 not in json.dumps(error)  # the input is never echoed
            await ws.send(json.dumps({"type": "shout"}))
            assert json.loads(await ws.recv())["errors"][0]["type"] == "union_tag_invalid"
            await ws.send(b"\x00\x01")
            assert "text frame" in json.loads(await ws.recv())["detail"]
            await ws.send(json.dumps({"type": "leave"}))
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000

    run(go())


def test_invalid_messages_close_with_1007_or_1003_when_so_configured() -> None:
    app, _ = make_app(ws_invalid_message="close")

    async def go(port: int) -> None:
        async with connect(f"ws://127.0.0.1:{port}/rooms/1") as ws:
            await ws.send(json.dumps({"type": "say"}))
            await ws.wait_closed()
            assert ws.close_code == 1007
        async with connect(f"ws://127.0.0.1:{port}/rooms/1") as ws:
            await ws.send(b"binary")
            await ws.wait_closed()
            assert ws.close_code == 1003

    with serve(app) as server:
        run(go(server.config.port))


def test_a_foreign_origin_is_refused_with_403_before_the_handler(url: str) -> None:
    async def go() -> None:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url + "/echo", origin="http://evil.example"):  # type: ignore[arg-type]
                pass
        response = refused.value.response
        assert response.status_code == 403
        problem = json.loads(response.body or b"")
        assert problem["status"] == 403 and "evil.example" in problem["detail"]
        # this site's own pages are fine
        host = url.removeprefix("ws://")
        async with connect(url + "/echo", origin=f"http://{host}") as ws:  # type: ignore[arg-type]
            await ws.send("same site")
            assert await ws.recv() == "same site"

    run(go())


def test_auth_is_refused_with_401_problem_details(url: str) -> None:
    async def go() -> None:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url + "/private"):
                pass
        assert refused.value.response.status_code == 401
        problem = json.loads(refused.value.response.body or b"")
        assert problem["detail"] == "A valid bearer token is required"
        async with connect(
            url + "/private", additional_headers={"authorization": "Bearer good"}
        ) as ws:
            assert await ws.recv() == "hello alice"

    run(go())


def test_an_oversized_message_closes_with_1009(url: str) -> None:
    async def go() -> None:
        async with connect(url + "/echo", max_size=None) as ws:
            await ws.send("x" * 2000)
            await ws.wait_closed()
            assert ws.close_code == 1009

    run(go())


def test_invalid_utf8_in_a_text_frame_closes_with_1007(url: str) -> None:
    async def go() -> None:
        async with connect(url + "/echo") as ws:
            await ws.send(b"\xff\xfe", text=True)
            await ws.wait_closed()
            assert ws.close_code == 1007

    run(go())


def test_the_receive_rate_limit_closes_with_1008() -> None:
    app, _ = make_app(ws_receive_rate=1, ws_receive_burst=5)

    async def go(port: int) -> None:
        async with connect(f"ws://127.0.0.1:{port}/echo") as ws:
            with contextlib.suppress(ConnectionClosed):  # a send after the close may fail
                for i in range(20):
                    await ws.send(str(i))
            await ws.wait_closed()
            assert ws.close_code == 1008

    with serve(app) as server:
        run(go(server.config.port))


def _raw_handshake(port: int, path: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def _close_code(sock: socket.socket) -> int:
    """Read frames (ignoring pings, never answering them) up to the close frame's code."""
    buffer = b""
    while True:
        while len(buffer) >= 2:
            opcode, length = buffer[0] & 0x0F, buffer[1] & 0x7F
            if len(buffer) < 2 + length:
                break
            payload, buffer = buffer[2 : 2 + length], buffer[2 + length :]
            if opcode == 0x8:
                return int(struct.unpack("!H", payload[:2])[0])
        chunk = sock.recv(4096)
        if not chunk:
            raise AssertionError("closed without a close frame")
        buffer += chunk


def test_a_client_that_ignores_pings_is_closed_with_1011() -> None:
    app, _ = make_app(ws_ping_interval=0.2, ws_ping_timeout=0.3)
    with serve(app) as server:
        sock = _raw_handshake(server.config.port, "/echo")
        with sock:
            assert _close_code(sock) == 1011


def test_a_stuck_client_has_a_bounded_queue_and_does_not_slow_the_others(url: str) -> None:
    port = int(url.rsplit(":", 1)[1])
    import httpx

    async def go() -> None:
        stuck = _raw_handshake(port, "/feed")  # never reads
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        try:
            async with (
                connect(url + "/feed", max_queue=None) as fast,
                httpx.AsyncClient(base_url=url.replace("ws", "http", 1)) as http,
            ):
                while len((await http.get("/queues")).json()) < 2:
                    await asyncio.sleep(0.01)
                total = 10_000
                publish = asyncio.ensure_future(http.post(f"/publish/{total}", timeout=60))
                received = 0
                while received < total:
                    await fast.recv()
                    received += 1
                assert (await publish).status_code == 200
                rows = (await http.get("/queues")).json()
            fast_row, stuck_row = rows
            assert fast_row == {"queued": 0, "dropped": 0}
            assert stuck_row["queued"] <= 100  # ws_send_queue_size
            assert stuck_row["dropped"] > 0
        finally:
            stuck.close()

    run(go())


def test_the_server_config_comes_from_settings() -> None:
    options = websocket_options(Settings(ws_max_message_size=10, drain_timeout=3))
    config = uvicorn.Config(App(), **options)
    assert (config.ws_max_size, config.timeout_graceful_shutdown) == (10, 3)
