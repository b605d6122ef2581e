"""Function middleware, ``@app.middleware("http")``: ``async def mw(request, call_next)``.

A pure ASGI wrapper. ``call_next`` runs the rest of the app in a task and returns as soon as
the response starts: its body is streamed from the task through a small queue (never
buffered whole), so a streaming response stays a stream.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from keel._types import ASGIApp, Message, Receive, Scope, Send
from keel.requests import Request
from keel.responses import Response

__all__ = ["CallNext", "FunctionMiddleware"]

CallNext = Callable[[Request], Awaitable[Response]]
_DONE: Any = object()
_QUEUED_CHUNKS = 8


class _Downstream(Response):
    """The response of the rest of the app, as ``call_next`` returns it (body streamed)."""

    def __init__(
        self, status: int, raw_headers: list[tuple[bytes, bytes]], chunks: AsyncIterator[bytes]
    ) -> None:
        self._setup(status, None, None, None)
        self.raw_headers = raw_headers
        self.body = b""
        self.body_iterator: AsyncIterator[bytes] = chunks
        """The body chunks, as they come (Starlette's name): read it once, or replace it
        with another async iterator to change the body."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the status, (possibly changed) headers, then the body as it comes."""
        await send(self._start(scope))
        async for chunk in self.body_iterator:
            if chunk:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        if self.background is not None:
            await self.background()


class FunctionMiddleware:
    """Runs ``dispatch(request, call_next)`` around every HTTP request.

    Args:
        app: The rest of the application.
        dispatch: ``async def mw(request, call_next) -> Response``.
    """

    def __init__(
        self, app: ASGIApp, dispatch: Callable[[Request, CallNext], Awaitable[Response]]
    ) -> None:
        self.app = app
        self.dispatch = dispatch

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        tasks: list[asyncio.Task[None]] = []
        done: list[list[bool]] = []  # per task: [True] once its whole body was read

        async def call_next(_: Request) -> Response:
            queue: asyncio.Queue[Any] = asyncio.Queue(_QUEUED_CHUNKS)

            async def run() -> None:
                try:
                    await self.app(scope, _replay(request, receive), queue.put)
                finally:
                    await queue.put(_DONE)

            finished: list[bool] = []
            task = asyncio.create_task(run())
            tasks.append(task)
            done.append(finished)
            first = await queue.get()
            if first is _DONE:
                finished.append(True)
                await task  # raises what the app raised
                raise RuntimeError("The application returned without sending a response")
            return _Downstream(first["status"], list(first["headers"]), _body(queue, finished))

        try:
            response = await self.dispatch(request, call_next)
            if not isinstance(response, Response):
                raise TypeError(
                    f"Middleware {getattr(self.dispatch, '__qualname__', self.dispatch)} "
                    f"returned {response!r}, not a Response"
                )
            await response(scope, receive, send)
        finally:
            stopped = []
            for task, finished in zip(tasks, done, strict=False):
                if not finished and not task.done():
                    task.cancel()  # its response was not read: stop it
                    stopped.append(task)
            for task in tasks:
                if task in stopped:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                else:
                    await task  # its background tasks, and what it raised


async def _body(queue: asyncio.Queue[Any], finished: list[bool]) -> AsyncIterator[bytes]:
    while True:
        message: Message = await queue.get()
        if message is _DONE:  # the app failed mid-body: the middleware awaits its error
            finished.append(True)
            return
        if message["type"] == "http.response.body":
            yield message.get("body", b"")
            if not message.get("more_body", False):
                finished.append(True)
                return


def _replay(request: Request, receive: Receive) -> Receive:
    """The app's ``receive``: the body again when the middleware read it, else the original."""
    body = request._body
    if body is None:
        return receive
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
