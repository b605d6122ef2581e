"""In-process websocket sessions for the test clients (``client.websocket_connect(path)``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Coroutine, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from keel._types import ASGIApp, Message
from keel.websockets import WebSocketDisconnect

__all__ = ["AsyncWebSocketSession", "WebSocketDenialResponse", "WebSocketSession", "ws_scope"]

T = TypeVar("T")


class WebSocketDenialResponse(httpx.Response, WebSocketDisconnect):  # type: ignore[misc]
    """The app refused the handshake with an HTTP answer (``status_code``, ``json()``…)."""

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        httpx.Response.__init__(self, status, headers=headers, content=body)
        WebSocketDisconnect.__init__(self, 1008, f"HTTP {status}")

    def __str__(self) -> str:
        return f"websocket handshake refused: HTTP {self.status_code} {self.text[:200]}"


def ws_scope(
    client: httpx.Client | httpx.AsyncClient,
    url: str,
    headers: Mapping[str, str] | None,
    subprotocols: Sequence[str] | None,
    peer: tuple[str, int],
    root_path: str,
) -> dict[str, Any]:
    """The ASGI scope of a websocket handshake to ``url`` (relative to the client's base)."""
    full = client.base_url.join(url) if "://" not in url else httpx.URL(url)
    parts = urlsplit(str(full))
    host = parts.netloc
    raw: list[tuple[bytes, bytes]] = [(b"host", host.encode("latin-1"))]
    merged = {**dict(client.headers), **dict(headers or {})}
    for key, value in merged.items():
        if key.lower() not in ("host", "accept", "accept-encoding", "connection"):
            raw.append((key.lower().encode("latin-1"), value.encode("latin-1")))
    cookies = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    if cookies and "cookie" not in {k.lower() for k in merged}:
        raw.append((b"cookie", cookies.encode("latin-1")))
    raw += [
        (b"connection", b"upgrade"),
        (b"upgrade", b"websocket"),
        (b"sec-websocket-version", b"13"),
    ]
    if subprotocols:
        raw.append((b"sec-websocket-protocol", ", ".join(subprotocols).encode("latin-1")))
    scheme = "wss" if parts.scheme in ("https", "wss") else "ws"
    port = parts.port or (443 if scheme == "wss" else 80)
    return {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "scheme": scheme,
        "path": parts.path or "/",
        "raw_path": (parts.path or "/").encode("latin-1"),
        "query_string": parts.query.encode("latin-1"),
        "root_path": root_path,
        "headers": raw,
        "client": peer,
        "server": (parts.hostname or "testserver", port),
        "subprotocols": list(subprotocols or ()),
        "state": {},
        "extensions": {"websocket.http.response": {}},
    }


class AsyncWebSocketSession:
    """A websocket to the app, in-process (``async with client.websocket_connect(...)``)."""

    def __init__(self, app: ASGIApp, scope: dict[str, Any], raise_exceptions: bool) -> None:
        self.app = app
        self.scope = scope
        self.raise_exceptions = raise_exceptions
        self.accepted_subprotocol: str | None = None
        self.extra_headers: list[tuple[bytes, bytes]] = []
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    async def __aenter__(self) -> AsyncWebSocketSession:
        self._task = asyncio.ensure_future(
            self.app(self.scope, self._to_app.get, self._from_app.put)
        )
        await self._to_app.put({"type": "websocket.connect"})
        message = await self._next()
        kind = message["type"]
        if kind == "websocket.accept":
            self.accepted_subprotocol = message.get("subprotocol")
            self.extra_headers = list(message.get("headers") or [])
            return self
        await self._finish()
        if kind == "websocket.http.response.start":
            body = b""
            while True:
                part = await self._next()
                body += part.get("body", b"")
                if not part.get("more_body", False):
                    break
            raise WebSocketDenialResponse(message["status"], message.get("headers", []), body)
        raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
        await self._finish()

    async def _next(self) -> Message:
        """The app's next message; the app's own exception if it failed first."""
        assert self._task is not None
        getter = asyncio.ensure_future(self._from_app.get())
        await asyncio.wait({getter, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if getter.done():
            return getter.result()
        getter.cancel()
        error = self._task.exception()
        if error is not None and self.raise_exceptions:
            raise error
        return {"type": "websocket.close", "code": 1011 if error else 1000}

    async def _finish(self) -> None:
        task = self._task
        if task is None:
            return
        await asyncio.wait({task}, timeout=5)
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            return
        error = None if task.cancelled() else task.exception()
        if error is None:
            error = self.scope.pop("keel.websocket_disconnect", None)
        if error is not None and self.raise_exceptions:
            self._task = None
            raise error

    async def send(self, message: Message) -> None:
        """Send a raw ASGI message to the app."""
        await self._to_app.put(message)

    async def send_text(self, data: str) -> None:
        """Send a text frame."""
        await self.send({"type": "websocket.receive", "text": data})

    async def send_bytes(self, data: bytes) -> None:
        """Send a binary frame."""
        await self.send({"type": "websocket.receive", "bytes": data})

    async def send_json(self, data: Any, mode: str = "text") -> None:
        """Send ``data`` as JSON, in a text frame (or a binary one: ``mode="binary"``)."""
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        if mode == "text":
            await self.send_text(text)
        else:
            await self.send_bytes(text.encode())

    async def receive(self) -> Message:
        """The app's next raw ASGI message."""
        return await self._next()

    async def _frame(self) -> Message:
        message = await self._next()
        if message["type"] == "websocket.close":
            self._closed = True
            raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
        return message

    async def receive_text(self) -> str:
        """The next text frame (:class:`WebSocketDisconnect` when the app closed)."""
        message = await self._frame()
        return str(message["text"])

    async def receive_bytes(self) -> bytes:
        """The next binary frame."""
        message = await self._frame()
        return bytes(message["bytes"])

    async def receive_json(self, mode: str = "text") -> Any:
        """The next frame parsed as JSON."""
        message = await self._frame()
        data = message.get("text") if mode == "text" else message.get("bytes")
        return json.loads(data or "")

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Close from the client side."""
        if not self._closed:
            self._closed = True
            await self.send({"type": "websocket.disconnect", "code": code, "reason": reason or ""})


class WebSocketSession:
    """The synchronous face of :class:`AsyncWebSocketSession` (``TestClient``)."""

    def __init__(
        self, run: Callable[[Coroutine[Any, Any, Any]], Any], session: AsyncWebSocketSession
    ) -> None:
        self._run = run
        self._session = session

    @property
    def accepted_subprotocol(self) -> str | None:
        """The subprotocol the app accepted."""
        return self._session.accepted_subprotocol

    @property
    def extra_headers(self) -> list[tuple[bytes, bytes]]:
        """Headers the app added to its accept."""
        return self._session.extra_headers

    def __enter__(self) -> WebSocketSession:
        self._run(self._session.__aenter__())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._run(self._session.__aexit__(exc_type, exc, tb))

    def send(self, message: Message) -> None:
        """Send a raw ASGI message to the app."""
        self._run(self._session.send(message))

    def send_text(self, data: str) -> None:
        """Send a text frame."""
        self._run(self._session.send_text(data))

    def send_bytes(self, data: bytes) -> None:
        """Send a binary frame."""
        self._run(self._session.send_bytes(data))

    def send_json(self, data: Any, mode: str = "text") -> None:
        """Send ``data`` as JSON."""
        self._run(self._session.send_json(data, mode))

    def receive(self) -> Message:
        """The app's next raw ASGI message."""
        message: Message = self._run(self._session.receive())
        return message

    def receive_text(self) -> str:
        """The next text frame (:class:`WebSocketDisconnect` when the app closed)."""
        text: str = self._run(self._session.receive_text())
        return text

    def receive_bytes(self) -> bytes:
        """The next binary frame."""
        data: bytes = self._run(self._session.receive_bytes())
        return data

    def receive_json(self, mode: str = "text") -> Any:
        """The next frame parsed as JSON."""
        return self._run(self._session.receive_json(mode))

    def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Close from the client side."""
        self._run(self._session.close(code, reason))
