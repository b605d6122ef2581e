"""Server-sent events: ``EventSourceResponse``, or a handler that is an async generator.

::

    @app.get("/events")
    async def events(last_event_id: Annotated[str | None, Header()] = None):
        async for message in channels.subscribe("news"):  # resume after last_event_id…
            yield ServerSentEvent(message.data, event="news", id=next_id())

Each item becomes one event: a :class:`ServerSentEvent`, or any value as its ``data``
(text as is, anything else as JSON). A keep-alive comment goes out every
``sse_ping_interval`` seconds; when the client goes away the generator is cancelled (its
``finally`` blocks run), and at shutdown the stream ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic_core import to_json

from keel import _live
from keel._types import Receive, Scope, Send
from keel.background import BackgroundTask
from keel.responses import Response

__all__ = ["EventSourceResponse", "ServerSentEvent", "encode_event"]

_DEFAULT_PING = 15.0


@dataclass(slots=True)
class ServerSentEvent:
    """One event: ``data`` (text as is, other values as JSON), and optionally its ``event``
    type, ``id`` (what the browser sends back as ``Last-Event-ID`` when it reconnects),
    ``retry`` (milliseconds the browser waits before reconnecting) and a ``comment``."""

    data: Any = None
    event: str | None = None
    id: str | None = None
    retry: int | None = None
    comment: str | None = None

    def encode(self) -> bytes:
        """The event in the ``text/event-stream`` format."""
        lines: list[str] = []
        if self.comment is not None:
            lines += [": " + line for line in self.comment.splitlines() or [""]]
        if self.event is not None:
            lines.append("event: " + _field("event", self.event))
        if self.id is not None:
            if "\0" in self.id:
                raise ValueError("An event id cannot contain NUL")
            lines.append("id: " + _field("id", self.id))
        if self.retry is not None:
            lines.append(f"retry: {int(self.retry)}")
        if self.data is not None:
            text = self.data if isinstance(self.data, str) else to_json(self.data).decode()
            lines += ["data: " + line for line in text.splitlines() or [""]]
        return ("\n".join(lines) + "\n\n").encode()


def _field(name: str, value: str) -> str:
    if "\n" in value or "\r" in value:
        raise ValueError(f"An event {name} cannot contain a line break: {value[:40]!r}")
    return value


def encode_event(item: Any) -> bytes:
    """One stream item as an event (a :class:`ServerSentEvent`, or a value as its data)."""
    if isinstance(item, ServerSentEvent):
        return item.encode()
    if isinstance(item, bytes):
        return item
    return ServerSentEvent(item).encode()


class _Stream:
    """An open event stream as :mod:`keel._live` tracks it."""

    __slots__ = ("__weakref__", "app", "ending")

    def __init__(self, app: Any) -> None:
        self.app = app
        self.ending = asyncio.Event()

    def end(self, code: int) -> None:
        self.ending.set()


class EventSourceResponse(Response):
    """A ``text/event-stream`` response fed by an (async) iterable of events.

    Args:
        content: The events: an async iterable (an async generator…) or an iterable.
        status: The HTTP status.
        headers: Extra headers.
        ping: Seconds between keep-alive comments (default: the ``sse_ping_interval``
            setting, else 15); ``None`` sends none.
        background: Run after the stream ends.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        content: AsyncIterable[Any] | Iterable[Any],
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        ping: float | None | bool = True,
        background: BackgroundTask | None = None,
    ) -> None:
        self._setup(status, None, None, background)
        self.content = content
        self.ping = ping
        self._init_headers(
            {"cache-control": "no-store", "x-accel-buffering": "no", **dict(headers or {})}
        )

    def _interval(self, scope: Scope) -> float | None:
        if self.ping is True:
            settings = getattr(scope.get("app"), "settings", None)
            return getattr(settings, "sse_ping_interval", _DEFAULT_PING)
        if self.ping is False:
            return None
        return self.ping

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Stream the events until they end, the client goes away or the server stops."""
        await send(self._start(scope))
        if scope.get("method") == "HEAD":
            await send({"type": "http.response.body", "body": b""})
            return
        lock = asyncio.Lock()
        interval = self._interval(scope)
        tracked = _Stream(scope.get("app"))
        _live.register(tracked)

        async def chunk(data: bytes) -> None:
            async with lock:
                await send({"type": "http.response.body", "body": data, "more_body": True})

        async def stream() -> None:
            items = _aiter(self.content)
            try:
                async for item in items:
                    await chunk(encode_event(item))
            finally:
                closing = getattr(items, "aclose", None)
                if closing is not None:
                    with contextlib.suppress(Exception):
                        await closing()

        async def pings() -> None:
            assert interval is not None
            while True:
                await asyncio.sleep(interval)
                await chunk(b": ping\n\n")

        producer = asyncio.ensure_future(stream())
        tasks = {
            producer,
            asyncio.ensure_future(_wait_disconnect(receive)),
            asyncio.ensure_future(tracked.ending.wait()),
        }
        if interval is not None:
            tasks.add(asyncio.ensure_future(pings()))
        disconnected = False
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            disconnected = not producer.done() and not tracked.ending.is_set()
        finally:
            for task in tasks:
                if not task.done():
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            _live.unregister(tracked)
        if not disconnected:
            with contextlib.suppress(Exception):
                await send({"type": "http.response.body", "body": b""})
        if producer.done() and not producer.cancelled():
            error = producer.exception()
            if error is not None:
                raise error  # after the stream ended: the server logs it
        if self.background is not None and not disconnected:
            await self.background()


async def _wait_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


def _aiter(content: AsyncIterable[Any] | Iterable[Any]) -> AsyncIterator[Any]:
    if inspect.isasyncgen(content) or hasattr(content, "__anext__"):
        return content  # type: ignore[return-value]
    if isinstance(content, AsyncIterable):
        return content.__aiter__()
    items: Iterable[Any] = content

    async def plain() -> AsyncIterator[Any]:
        for item in items:
            yield item

    return plain()
