from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from keel import App, BackgroundTasks, HTTPError, Request
from keel.responses import PlainTextResponse, Response, StreamingResponse
from keel.testing import TestClient
from tests.problems import problem

CallNext = Any


def test_function_middleware_wraps_requests_in_order() -> None:
    app = App()
    order: list[str] = []

    @app.middleware("http")
    async def inner(request: Request, call_next: CallNext) -> Response:
        order.append("inner")
        response: Response = await call_next(request)
        response.headers["x-inner"] = "1"
        return response

    @app.middleware("http")
    async def outer(request: Request, call_next: CallNext) -> Response:
        order.append("outer")
        start = time.perf_counter()
        response: Response = await call_next(request)
        response.headers["x-process-time"] = f"{time.perf_counter() - start:.6f}"
        return response

    @app.get("/")
    async def index(bg: BackgroundTasks) -> dict[str, bool]:
        bg.add_task(order.append, "background")
        return {"ok": True}

    r = TestClient(app).get("/")
    assert r.json() == {"ok": True}
    assert r.headers["x-inner"] == "1"
    assert float(r.headers["x-process-time"]) >= 0
    assert r.headers["content-length"] == "11"
    assert order == ["outer", "inner", "background"]


def test_call_next_streams_and_the_middleware_may_read_the_body() -> None:
    app = App()
    chunks_sent: list[int] = []

    @app.middleware("http")
    async def peek(request: Request, call_next: CallNext) -> Response:
        if request.method == "POST":
            assert await request.body() == b'{"n": 1}'
        return await call_next(request)  # type: ignore[no-any-return]

    @app.post("/echo")
    async def echo(payload: dict[str, int]) -> dict[str, int]:
        return payload

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def gen() -> AsyncIterator[bytes]:
            for i in range(50):
                chunks_sent.append(i)
                yield b"x" * 1000
                await asyncio.sleep(0)

        return StreamingResponse(gen(), media_type="text/plain")

    client = TestClient(app)
    assert client.post(
        "/echo", content=b'{"n": 1}', headers={"content-type": "application/json"}
    ).json() == {"n": 1}
    r = client.get("/stream")
    assert len(r.content) == 50_000 and len(chunks_sent) == 50


def test_middleware_errors_and_short_circuits() -> None:
    app = App()

    @app.middleware("http")
    async def guard(request: Request, call_next: CallNext) -> Response:
        if request.headers.get("x-block"):
            raise HTTPError(403, "blocked")
        if request.headers.get("x-own"):
            await call_next(request)  # its response is dropped: the app is stopped
            return PlainTextResponse("mine")
        return await call_next(request)  # type: ignore[no-any-return]

    @app.get("/")
    async def index() -> str:
        return "app"

    @app.get("/fail")
    async def fail() -> str:
        raise RuntimeError("boom")

    client = TestClient(app, raise_server_exceptions=False)
    assert problem(client.get("/", headers={"x-block": "1"}), 403)["detail"] == "blocked"
    assert client.get("/", headers={"x-own": "1"}).text == "mine"
    assert client.get("/").json() == "app"
    assert problem(client.get("/fail"), 500)
    with pytest.raises(RuntimeError, match="boom"):
        TestClient(app).get("/fail")
    assert problem(client.get("/missing"), 404)


def test_middleware_kind_and_return_value_are_checked() -> None:
    app = App()
    with pytest.raises(ValueError, match='takes "http" only'):
        app.middleware("websocket")

    @app.middleware("http")
    async def bad(request: Request, call_next: CallNext) -> Any:
        return {"not": "a response"}

    @app.get("/")
    async def index() -> str:
        return "x"

    r = TestClient(app, raise_server_exceptions=False).get("/")
    assert r.status_code == 500


def test_middleware_can_rewrite_a_streamed_body() -> None:
    app = App()

    @app.middleware("http")
    async def upper(request: Request, call_next: CallNext) -> Response:
        response = await call_next(request)
        original = response.body_iterator

        async def shout() -> AsyncIterator[bytes]:
            async for chunk in original:
                yield chunk.upper()

        response.body_iterator = shout()
        del response.headers["content-length"]
        return response  # type: ignore[no-any-return]

    @app.get("/")
    async def index() -> str:
        return "quiet"

    assert TestClient(app).get("/").text == '"QUIET"'
