"""Server-sent events: the format, resuming, keep-alives, disconnects and shutdown."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import httpx
import pytest
from websockets.asyncio.client import connect

from keel import App, EventSourceResponse, Header, ServerSentEvent
from keel.testing import TestClient
from tests.live import free_port, running
from tests.test_cli import KEEL, ROOT, wait_for

closed: list[str] = []
app = App()


@app.get("/count")
async def count(
    last_event_id: Annotated[str | None, Header()] = None,
) -> AsyncIterator[ServerSentEvent]:
    start = int(last_event_id) + 1 if last_event_id and last_event_id.isdigit() else 1
    for n in range(start, start + 3):
        yield ServerSentEvent({"n": n}, event="tick", id=str(n))


@app.get("/mixed")
async def mixed() -> EventSourceResponse:
    items: list[Any] = [
        "plain text",
        "two\nlines",
        {"json": True},
        ServerSentEvent(retry=2500, comment="hello"),
    ]
    return EventSourceResponse(items, ping=None)


@app.get("/slow")
async def slow() -> EventSourceResponse:
    async def gen() -> AsyncIterator[str]:
        await asyncio.sleep(0.2)
        yield "done"

    return EventSourceResponse(gen(), ping=0.02)


@app.get("/forever")
async def forever() -> AsyncIterator[str]:
    try:
        while True:
            yield "tick"
            await asyncio.sleep(0.01)
    finally:
        closed.append("forever")


def test_events_are_framed_and_resume_after_last_event_id() -> None:
    with TestClient(app) as client:
        response = client.get("/count")
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert response.headers["cache-control"] == "no-store"
        assert response.text == "".join(
            f'event: tick\nid: {n}\ndata: {{"n":{n}}}\n\n' for n in (1, 2, 3)
        )
        resumed = client.get("/count", headers={"last-event-id": "7"})
        assert resumed.text.startswith("event: tick\nid: 8\n")


def test_text_json_retry_and_comments() -> None:
    with TestClient(app) as client:
        assert client.get("/mixed").text == (
            "data: plain text\n\n"
            "data: two\ndata: lines\n\n"
            'data: {"json":true}\n\n'
            ": hello\nretry: 2500\n\n"
        )


def test_keep_alive_comments_while_waiting() -> None:
    with TestClient(app) as client:
        text = client.get("/slow").text
        assert text.count(": ping\n\n") >= 2
        assert text.endswith("data: done\n\n")


def test_fields_cannot_smuggle_lines() -> None:
    with pytest.raises(ValueError, match="line break"):
        ServerSentEvent("x", id="1\nevent: evil").encode()
    with pytest.raises(ValueError, match="line break"):
        ServerSentEvent("x", event="a\rb").encode()


def test_a_disconnect_cancels_the_generator_cleanly() -> None:
    closed.clear()
    with running(app) as server:
        port = server.config.port
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"GET /forever HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            seen = b""
            while b"data: tick" not in seen:
                seen += sock.recv(4096)
        deadline = time.monotonic() + 5
        while not closed and time.monotonic() < deadline:
            time.sleep(0.01)
    assert closed == ["forever"]


@pytest.fixture
def server() -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = free_port()
    proc = subprocess.Popen(
        [KEEL, "run", "tests.channels.liveapp:app", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT,
        env={**os.environ, "KEEL_DRAIN_TIMEOUT": "3"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(port, proc)
        yield port, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def test_events_fed_by_channels_and_shutdown_ends_streams_and_websockets(
    server: tuple[int, subprocess.Popen[bytes]],
) -> None:
    port, proc = server

    async def go() -> None:
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http,
            http.stream("GET", "/rooms/news/events") as stream,
            connect(f"ws://127.0.0.1:{port}/rooms/news?user=w") as ws,
        ):
            lines = stream.aiter_lines()
            await ws.send("hello")
            assert await ws.recv() == '{"user":"w","text":"hello"}'
            assert await anext(lines) == "event: message"
            assert await anext(lines) == 'data: {"user":"w","text":"hello"}'
            started = time.monotonic()
            os.killpg(proc.pid, signal.SIGTERM)
            await ws.wait_closed()
            assert ws.close_code == 1012
            rest = [line async for line in lines]  # the stream ends
            assert rest == [""]
            assert time.monotonic() - started < 3
        await asyncio.to_thread(proc.wait, 5)

    asyncio.run(go())
    assert proc.returncode is not None  # gone well within the drain timeout
