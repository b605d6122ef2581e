"""Test clients: call the app in-process through httpx, with its lifespan.

``TestClient`` is synchronous (the app runs on an event loop in a background thread);
``AsyncTestClient`` is for async tests.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Coroutine, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from keel._types import ASGIApp, Message
from keel._wstest import WebSocketDenialResponse

if TYPE_CHECKING:
    from keel._wstest import AsyncWebSocketSession, WebSocketSession

__all__ = ["AsyncTestClient", "TestClient", "WebSocketDenialResponse"]

T = TypeVar("T")


class _Lifespan:
    """Drives the ASGI lifespan protocol of an app on the current loop."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.outbox: asyncio.Queue[Message] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None
        self.failed_startup = False

    async def _run(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        try:
            await self.app(scope, self.inbox.get, self._send)
        except BaseException as exc:
            if not self.failed_startup:
                # an app without lifespan support raises here
                await self.outbox.put({"type": "error", "exc": exc})
            raise

    async def _send(self, message: Message) -> None:
        if message["type"] == "lifespan.startup.failed":
            self.failed_startup = True
        await self.outbox.put(message)

    async def startup(self) -> None:
        self.task = asyncio.ensure_future(self._run())
        await self.inbox.put({"type": "lifespan.startup"})
        message = await self.outbox.get()
        if message["type"] == "lifespan.startup.failed":
            # Re-raise the app's own exception, as Starlette's test client does.
            await asyncio.wait([self.task], timeout=5)
            if self.task.done() and not self.task.cancelled():
                error = self.task.exception()
                if error is not None:
                    raise error
            raise RuntimeError(f"Application startup failed: {message.get('message', '')}")
        if message["type"] == "error":
            raise message["exc"]

    async def shutdown(self) -> None:
        if self.task is None or self.task.done():
            return
        await self.inbox.put({"type": "lifespan.shutdown"})
        message = await self.outbox.get()
        await self.task
        if message["type"] == "lifespan.shutdown.failed":
            raise RuntimeError(f"Application shutdown failed: {message.get('message', '')}")


class AsyncTestClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` wired to the app; ``async with`` runs startup/shutdown."""

    def __init__(
        self,
        app: ASGIApp,
        base_url: str = "http://testserver",
        raise_server_exceptions: bool = True,
        client: tuple[str, int] = ("testclient", 50000),
        root_path: str = "",
        **kwargs: Any,
    ) -> None:
        transport = httpx.ASGITransport(
            app=app,
            raise_app_exceptions=raise_server_exceptions,
            client=client,
            root_path=root_path,
        )
        kwargs["headers"] = {"user-agent": "testclient", **dict(kwargs.get("headers") or {})}
        super().__init__(transport=transport, base_url=base_url, **kwargs)
        self.app = app
        self._lifespan: _Lifespan | None = None
        self._ws_options = (client, root_path, raise_server_exceptions)

    def websocket_connect(
        self,
        url: str,
        subprotocols: Sequence[str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncWebSocketSession:
        """A websocket to the app: ``async with client.websocket_connect("/ws") as ws:``.

        Entering raises :class:`~keel.websockets.WebSocketDisconnect` when the app closes
        before accepting, or ``WebSocketDenialResponse`` (an ``httpx.Response``) when it
        answers the handshake with an HTTP error.
        """
        from keel._wstest import AsyncWebSocketSession, ws_scope

        peer, root_path, raise_exceptions = self._ws_options
        scope = ws_scope(self, url, headers, subprotocols, peer, root_path)
        return AsyncWebSocketSession(self.app, scope, raise_exceptions)

    async def __aenter__(self) -> AsyncTestClient:
        await super().__aenter__()
        self._lifespan = _Lifespan(self.app)
        await self._lifespan.startup()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> None:
        if self._lifespan is not None:
            await self._lifespan.shutdown()
        await super().__aexit__(exc_type, exc, tb)


class _LoopThread:
    """An event loop running in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="keel-test")
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


class _SyncTransport(httpx.BaseTransport):
    def __init__(self, owner: TestClient, asgi: httpx.ASGITransport) -> None:
        self.owner = owner
        self.asgi = asgi

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()

        async def call() -> tuple[int, list[tuple[bytes, bytes]], bytes, Any]:
            async_request = httpx.Request(
                request.method, request.url, headers=request.headers, content=body
            )
            response = await self.asgi.handle_async_request(async_request)
            # raw bytes: the client decodes Content-Encoding itself
            content = b"".join([chunk async for chunk in response.aiter_raw()])
            return response.status_code, response.headers.raw, content, response.extensions

        status, headers, content, extensions = self.owner.run(call())
        return httpx.Response(status, headers=headers, content=content, extensions=extensions)


class TestClient(httpx.Client):
    """A synchronous ``httpx.Client`` that calls the app in-process.

    Use it as a context manager to run the app's startup and shutdown::

        with TestClient(app) as client:
            assert client.get("/").status_code == 200

    Args:
        app: The ASGI application.
        base_url: Base URL of requests.
        raise_server_exceptions: Re-raise unhandled app exceptions in the test (as Starlette).
        client: The ``(host, port)`` the app sees as the client.
        root_path: The ASGI ``root_path`` of every request (the prefix a proxy strips).
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        app: ASGIApp,
        base_url: str = "http://testserver",
        raise_server_exceptions: bool = True,
        client: tuple[str, int] = ("testclient", 50000),
        root_path: str = "",
        **kwargs: Any,
    ) -> None:
        self.app = app
        self._loop: _LoopThread | None = None
        self._lifespan: _Lifespan | None = None
        asgi = httpx.ASGITransport(
            app=app,
            raise_app_exceptions=raise_server_exceptions,
            client=client,
            root_path=root_path,
        )
        kwargs.setdefault("follow_redirects", True)
        kwargs["headers"] = {"user-agent": "testclient", **dict(kwargs.get("headers") or {})}
        super().__init__(transport=_SyncTransport(self, asgi), base_url=base_url, **kwargs)
        self._ws_options = (client, root_path, raise_server_exceptions)

    def websocket_connect(
        self,
        url: str,
        subprotocols: Sequence[str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> WebSocketSession:
        """A websocket to the app, as in Starlette: ``with client.websocket_connect("/ws")
        as ws: ws.send_text("hi"); ws.receive_text()``.

        Entering raises :class:`~keel.websockets.WebSocketDisconnect` when the app closes
        before accepting, or ``WebSocketDenialResponse`` (an ``httpx.Response``) when it
        answers the handshake with an HTTP error.
        """
        from keel._wstest import AsyncWebSocketSession, WebSocketSession, ws_scope

        peer, root_path, raise_exceptions = self._ws_options
        scope = ws_scope(self, url, headers, subprotocols, peer, root_path)
        return WebSocketSession(self.run, AsyncWebSocketSession(self.app, scope, raise_exceptions))

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the app's event loop (e.g. to set up async fixtures)."""
        if self._loop is None:
            self._loop = _LoopThread()
        return self._loop.run(coro)

    def __enter__(self) -> TestClient:
        super().__enter__()
        lifespan = _Lifespan(self.app)

        async def start() -> None:
            await lifespan.startup()

        self.run(start())
        self._lifespan = lifespan
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> None:
        try:
            if self._lifespan is not None:
                lifespan, self._lifespan = self._lifespan, None
                self.run(lifespan.shutdown())
        finally:
            super().__exit__(exc_type, exc, tb)
            if self._loop is not None:
                with contextlib.suppress(Exception):
                    self._loop.close()
                self._loop = None

    def close(self) -> None:
        """Close the client (and its event loop when used without ``with``)."""
        super().close()
        if self._lifespan is None and self._loop is not None:
            self._loop.close()
            self._loop = None
