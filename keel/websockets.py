"""WebSockets: the connection a ``@app.websocket`` handler gets, with typed messages, limits
and a bounded send queue.

::

    @app.websocket("/ws/{room}")
    async def chat(ws: WebSocket[ChatIn, ChatOut], room: str) -> None:
        await ws.accept()
        async for message in ws:  # each frame validated as ChatIn
            await ws.send_message(ChatOut(room=room, text=message.text))

A handler's own ``send_*`` calls wait for the client; :meth:`WebSocket.push` (used by
``keel.channels`` broadcasts) never waits: it queues the message in the connection's bounded
send queue, whose policy (``ws_send_queue_policy``) drops the oldest or the newest message or
closes the connection with 1013 when a client does not keep up.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import enum
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol

from pydantic import TypeAdapter, ValidationError
from pydantic_core import to_json
from typing_extensions import TypeVar

from keel._types import Message, Receive, Scope, Send
from keel.exceptions import WebSocketException
from keel.requests import Request

if TYPE_CHECKING:
    from keel.settings import Settings

__all__ = [
    "QueuePolicy",
    "WebSocket",
    "WebSocketDisconnect",
    "WebSocketException",
    "WebSocketHub",
    "WebSocketLimits",
    "WebSocketState",
]

logger = logging.getLogger("keel.websockets")

InT = TypeVar("InT", default=Any)
OutT = TypeVar("OutT", default=Any)

QueuePolicy = Literal["drop_oldest", "drop_newest", "close"]
"""What a full send queue does (the ``ws_send_queue_policy`` setting)."""


class WebSocketDisconnect(Exception):
    """The connection is closed (by the client, or by keel for a limit): ``code``, ``reason``."""

    def __init__(self, code: int = 1000, reason: str | None = None) -> None:
        self.code = code
        self.reason = reason or ""
        super().__init__(code, self.reason)


class WebSocketState(enum.Enum):
    """Where a side of the connection is: before the handshake, open, or closed."""

    CONNECTING = 0
    CONNECTED = 1
    DISCONNECTED = 2


@dataclass(frozen=True, slots=True)
class WebSocketLimits:
    """The limits of each connection (from the ``ws_*`` settings)."""

    max_message_size: int = 1024 * 1024
    receive_rate: float | None = 50.0
    receive_burst: int = 100
    idle_timeout: float | None = 300.0
    send_queue_size: int = 1000
    send_queue_policy: QueuePolicy = "drop_oldest"
    invalid_message: Literal["error", "close"] = "error"

    @classmethod
    def from_settings(cls, settings: Settings) -> WebSocketLimits:
        """The limits the settings ask for."""
        return cls(
            max_message_size=settings.ws_max_message_size,
            receive_rate=settings.ws_receive_rate,
            receive_burst=settings.ws_receive_burst,
            idle_timeout=settings.ws_idle_timeout,
            send_queue_size=settings.ws_send_queue_size,
            send_queue_policy=settings.ws_send_queue_policy,
            invalid_message=settings.ws_invalid_message,
        )


class WebSocketHub(Protocol):
    """What ``ws.join(group)`` talks to: ``keel.channels`` installs one in
    ``app.extensions["keel.channels"]``."""

    async def join(self, ws: WebSocket[Any, Any], group: str) -> None:
        """Deliver the group's messages to ``ws`` (through :meth:`WebSocket.push`)."""

    async def leave(self, ws: WebSocket[Any, Any], group: str) -> None:
        """Stop delivering the group's messages to ``ws``."""


_DROP_LOG_EVERY = 1000


class WebSocket(Request, Generic[InT, OutT]):
    """A websocket connection: the handshake request (headers, cookies, session, path and
    query parameters, as :class:`~keel.requests.Request`) and its messages.

    Annotate the handler's parameter ``WebSocket[In, Out]`` to type the messages:
    :meth:`receive_message` and ``async for`` validate each inbound frame as ``In`` (a
    pydantic model, a discriminated union…); :meth:`send_message` serialises ``Out``.
    """

    __keel_inject__ = "websocket"

    __slots__ = (
        "_send_asgi",
        "_ws_receive",
        "application_state",
        "client_state",
        "close_code",
        "dropped",
        "groups",
        "limits",
        "subprotocol",
        "_closing",
        "_in",
        "_out",
        "_queue",
        "_stamp",
        "_active",
        "_tokens",
        "_wake",
        "_waiting",
        "_writer",
    )

    def __init__(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        limits: WebSocketLimits | None = None,
        receives: TypeAdapter[Any] | None = None,
        sends: TypeAdapter[Any] | None = None,
    ) -> None:
        super().__init__(scope, receive, 0)
        self._ws_receive = receive
        self._send_asgi = send
        self.limits = limits or WebSocketLimits()
        self.client_state = WebSocketState.CONNECTED  # the handshake request arrived
        self.application_state = WebSocketState.CONNECTING
        self.close_code: int | None = None
        self.subprotocol: str | None = None
        self.dropped = 0
        """Messages dropped from this connection's send queue (see :meth:`push`)."""
        self.groups: set[str] = set()
        """The groups this connection joined."""
        self._in = receives
        self._out = sends
        self._tokens = float(self.limits.receive_burst)
        self._stamp = 0.0
        self._active = 0.0
        self._queue: collections.deque[str | bytes] | None = None
        self._wake: asyncio.Event | None = None
        self._waiting = False
        self._writer: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def method(self) -> str:
        """``GET``: the handshake's method."""
        return "GET"

    @property
    def subprotocols(self) -> list[str]:
        """The subprotocols the client offered, in its order of preference."""
        return list(self.scope.get("subprotocols", ()))

    # -- handshake and close ---------------------------------------------------------------

    async def accept(
        self, subprotocol: str | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        """Accept the connection (optionally choosing one of the client's subprotocols)."""
        if self.application_state is not WebSocketState.CONNECTING:
            raise RuntimeError("accept() is called once, before sending")
        if subprotocol is not None and subprotocol not in self.subprotocols:
            raise ValueError(f"The client did not offer the subprotocol {subprotocol!r}")
        message: dict[str, Any] = {"type": "websocket.accept", "subprotocol": subprotocol}
        if headers:
            message["headers"] = [
                (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()
            ]
        await self._send_asgi(message)
        self.subprotocol = subprotocol
        self.application_state = WebSocketState.CONNECTED
        self._stamp = self._active = asyncio.get_running_loop().time()

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Close the connection (before :meth:`accept`: refuse it, HTTP 403). Idempotent."""
        if self.application_state is WebSocketState.DISCONNECTED:
            return
        self.application_state = WebSocketState.DISCONNECTED
        self.close_code = code
        self._stop_writer()
        with contextlib.suppress(Exception):  # the client may be gone already
            await self._send_asgi(
                {"type": "websocket.close", "code": code, "reason": _short(reason or "")}
            )

    def end(self, code: int = 1012) -> None:
        """Start closing with ``code`` without waiting (graceful shutdown, queue policy)."""
        if self.application_state is WebSocketState.DISCONNECTED or self._closing:
            return
        self._closing = True
        task = asyncio.get_running_loop().create_task(self.close(code, _REASONS.get(code)))
        _BACKGROUND.add(task)
        task.add_done_callback(_BACKGROUND.discard)

    # -- receiving -------------------------------------------------------------------------

    async def receive(self) -> Message:
        """The next ASGI message (``websocket.receive`` or ``websocket.disconnect``), with the
        idle timeout, size and rate limits applied (a breach closes the connection and
        raises :class:`WebSocketDisconnect`)."""
        if self.client_state is WebSocketState.DISCONNECTED:
            raise WebSocketDisconnect(self.close_code or 1000)
        idle = self.limits.idle_timeout
        if idle is None:
            message = await self._ws_receive()
        else:
            loop = asyncio.get_running_loop()
            while True:  # idle: no frame either way for `idle` seconds
                left = self._active + idle - loop.time()
                if left <= 0:
                    await self._refuse(1001, "Idle timeout")
                try:
                    async with asyncio.timeout(left):
                        message = await self._ws_receive()
                    break
                except TimeoutError:
                    continue
            self._active = loop.time()
        kind = message["type"]
        if kind == "websocket.receive":
            try:
                self._check(message)
            except _Breach as breach:
                await self._refuse(breach.code, breach.reason)
        elif kind == "websocket.disconnect":
            self.client_state = WebSocketState.DISCONNECTED
            self.close_code = message.get("code", 1000)
            self.application_state = WebSocketState.DISCONNECTED
            self._stop_writer()
        return message

    def _check(self, message: Message) -> None:
        limits = self.limits
        text = message.get("text")
        data: str | bytes = text if text is not None else message.get("bytes") or b""
        size = len(data)
        if isinstance(data, str) and size * 4 > limits.max_message_size:
            size = len(data.encode("utf-8", "surrogatepass"))
        if size > limits.max_message_size:
            raise _Breach(1009, f"Message too big (limit {limits.max_message_size} bytes)")
        rate = limits.receive_rate
        if rate is not None:
            now = asyncio.get_running_loop().time()
            tokens = min(float(limits.receive_burst), self._tokens + (now - self._stamp) * rate)
            self._stamp = now
            if tokens < 1.0:
                raise _Breach(1008, "Too many messages")
            self._tokens = tokens - 1.0

    async def _refuse(self, code: int, reason: str) -> Any:
        self.client_state = WebSocketState.DISCONNECTED
        await self.close(code, reason)
        raise WebSocketDisconnect(code, reason)

    async def _payload(self) -> str | bytes:
        message = await self.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
        text = message.get("text")
        if text is not None:
            return str(text)
        return bytes(message.get("bytes") or b"")

    async def receive_text(self) -> str:
        """The next text frame (a binary frame closes the connection with 1003)."""
        data = await self._payload()
        if isinstance(data, bytes):
            await self._refuse(1003, "Expected a text frame")
        assert isinstance(data, str)
        return data

    async def receive_bytes(self) -> bytes:
        """The next binary frame (a text frame closes the connection with 1003)."""
        data = await self._payload()
        if isinstance(data, str):
            await self._refuse(1003, "Expected a binary frame")
        assert isinstance(data, bytes)
        return data

    async def receive_json(self, mode: Literal["text", "binary"] = "text") -> Any:
        """The next frame parsed as strict JSON (malformed JSON closes with 1007)."""
        from keel._json import MalformedJSON, loads

        data = await (self.receive_text() if mode == "text" else self.receive_bytes())
        try:
            return loads(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
        except MalformedJSON as exc:
            return await self._refuse(1007, _short(exc.detail.replace(" body", " message", 1)))

    async def receive_message(self) -> InT:
        """The next message, validated as the declared inbound type (``WebSocket[In, Out]``).

        An invalid frame gets an error frame back (``{"type": "error", ...}``) and is
        skipped, or closes the connection with 1007 (1003 for a binary frame) when the
        ``ws_invalid_message`` setting is ``close``. Untyped: the parsed JSON.
        """
        from keel._json import MalformedJSON, loads

        while True:
            problem: dict[str, Any]
            data = await self._payload()
            if isinstance(data, bytes):
                problem = {"type": "error", "detail": "Expected a text frame with JSON"}
                code = 1003
            else:
                try:
                    value = loads(data.encode("utf-8", "surrogatepass"))
                    if self._in is None:
                        return value  # type: ignore[no-any-return]
                    return self._in.validate_python(value)  # type: ignore[no-any-return]
                except MalformedJSON as exc:
                    problem = {
                        "type": "error",
                        "detail": exc.detail.replace(" body", " message", 1),
                    }
                except ValidationError as exc:
                    problem = {
                        "type": "error",
                        "detail": "The message is not valid",
                        "errors": [
                            {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
                            for e in exc.errors(include_url=False)[:20]
                        ],
                    }
                code = 1007
            if self.limits.invalid_message == "close":
                await self._refuse(code, _short(str(problem["detail"])))
            await self.send_text(to_json(problem).decode())

    def __aiter__(self) -> AsyncIterator[InT]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[InT]:
        """Messages until the client closes: typed ones, or text/bytes payloads untyped."""
        try:
            while True:
                if self._in is not None:
                    yield await self.receive_message()
                else:
                    yield await self._payload()  # type: ignore[misc]
        except WebSocketDisconnect:
            return

    async def iter_text(self) -> AsyncIterator[str]:
        """Text frames until the client closes."""
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                yield await self.receive_text()

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        """Binary frames until the client closes."""
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                yield await self.receive_bytes()

    async def iter_json(self) -> AsyncIterator[Any]:
        """JSON frames until the client closes."""
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                yield await self.receive_json()

    # -- sending ---------------------------------------------------------------------------

    async def send(self, message: Message) -> None:
        """Send an ASGI message (``websocket.send``…); waits while the client is slow."""
        if self.application_state is not WebSocketState.CONNECTED:
            raise RuntimeError(
                "Cannot send on a websocket that is not open: call accept() first"
                if self.application_state is WebSocketState.CONNECTING
                else "Cannot send on a closed websocket"
            )
        try:
            await self._send_asgi(message)
            self._active = asyncio.get_running_loop().time()
        except OSError as exc:  # the server's "client disconnected"
            self.application_state = WebSocketState.DISCONNECTED
            self.client_state = WebSocketState.DISCONNECTED
            raise WebSocketDisconnect(1006) from exc

    async def send_text(self, data: str) -> None:
        """Send a text frame."""
        await self.send({"type": "websocket.send", "text": data})

    async def send_bytes(self, data: bytes) -> None:
        """Send a binary frame."""
        await self.send({"type": "websocket.send", "bytes": data})

    async def send_json(self, data: Any, mode: Literal["text", "binary"] = "text") -> None:
        """Send ``data`` as JSON (models, dates… serialised as in responses)."""
        raw = to_json(data)
        if mode == "text":
            await self.send_text(raw.decode())
        else:
            await self.send_bytes(raw)

    async def send_message(self, message: OutT) -> None:
        """Send a message of the declared outbound type, serialised to a JSON text frame."""
        raw = self._out.dump_json(message) if self._out is not None else to_json(message)
        await self.send_text(raw.decode())

    def encode(self, message: OutT) -> str:
        """``message`` as the JSON text :meth:`send_message` would send."""
        raw = self._out.dump_json(message) if self._out is not None else to_json(message)
        return raw.decode()

    def push(self, data: str | bytes) -> bool:
        """Queue a frame without waiting; ``False`` when the queue policy dropped it.

        The queue holds at most ``ws_send_queue_size`` frames: when full, ``drop_oldest``
        drops the oldest queued frame, ``drop_newest`` this one, and ``close`` closes the
        connection with 1013. Drops are counted in :attr:`dropped` and logged.
        """
        if self.application_state is not WebSocketState.CONNECTED or self._closing:
            return False
        queue = self._queue
        if queue is None:
            queue = self._queue = collections.deque()
            self._wake = asyncio.Event()
            self._writer = asyncio.get_running_loop().create_task(self._drain())
        if len(queue) >= self.limits.send_queue_size:
            policy = self.limits.send_queue_policy
            if policy == "close":
                logger.warning(
                    "websocket %s: send queue full (%d), closing with 1013",
                    self.path,
                    len(queue),
                )
                self.end(1013)
                return False
            self._dropped()
            if policy == "drop_newest":
                return False
            queue.popleft()
        queue.append(data)
        if self._waiting:
            self._waiting = False
            assert self._wake is not None
            self._wake.set()
        return True

    @property
    def queued(self) -> int:
        """Frames waiting in the send queue."""
        return len(self._queue) if self._queue is not None else 0

    def _dropped(self) -> None:
        self.dropped += 1
        if self.dropped == 1 or self.dropped % _DROP_LOG_EVERY == 0:
            logger.warning(
                "websocket %s: a slow client's send queue is full; %d message(s) dropped (%s)",
                self.path,
                self.dropped,
                self.limits.send_queue_policy,
            )

    async def _drain(self) -> None:
        queue = self._queue
        wake = self._wake
        assert queue is not None and wake is not None
        send = self._send_asgi
        loop = asyncio.get_running_loop()
        try:
            while True:
                while queue:
                    data = queue.popleft()
                    if isinstance(data, str):
                        await send({"type": "websocket.send", "text": data})
                    else:
                        await send({"type": "websocket.send", "bytes": data})
                self._active = loop.time()
                wake.clear()
                self._waiting = True
                await wake.wait()
        except asyncio.CancelledError:
            raise
        except Exception:  # the client went away: the handler's receive sees it
            self.application_state = WebSocketState.DISCONNECTED

    def _stop_writer(self) -> None:
        writer = self._writer
        if writer is not None and not writer.done():
            writer.cancel()

    # -- groups ----------------------------------------------------------------------------

    async def join(self, group: str) -> None:
        """Receive the messages broadcast to ``group`` (needs ``keel.channels``)."""
        await _hub(self).join(self, group)
        self.groups.add(group)

    async def leave(self, group: str) -> None:
        """Stop receiving ``group``'s messages."""
        if group in self.groups:
            self.groups.discard(group)
            await _hub(self).leave(self, group)

    async def _finish(self) -> None:
        """After the handler: leave the groups, stop the writer, close if still open."""
        if self.groups:
            hub = _hub(self)
            for group in list(self.groups):
                with contextlib.suppress(Exception):
                    await hub.leave(self, group)
            self.groups.clear()
        self._stop_writer()
        if self._writer is not None:
            with contextlib.suppress(BaseException):
                await self._writer
        if self.application_state is not WebSocketState.DISCONNECTED:
            await self.close(1000 if self.application_state is WebSocketState.CONNECTED else 1008)

    def __repr__(self) -> str:
        return f"WebSocket({self.path!r}, {self.application_state.name})"


class _Breach(Exception):
    """A limit was exceeded by an inbound message."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason


_REASONS = {1012: "Service restart", 1013: "Try again later: too slow to keep up"}
_BACKGROUND: set[asyncio.Task[None]] = set()


def _short(reason: str) -> str:
    """A close reason fits in 123 bytes of UTF-8."""
    raw = reason.encode("utf-8", "replace")
    if len(raw) <= 123:
        return reason
    return raw[:120].decode("utf-8", "ignore") + "..."


def _hub(ws: WebSocket[Any, Any]) -> WebSocketHub:
    hub = getattr(ws.scope.get("app"), "extensions", {}).get("keel.channels")
    if hub is None:
        raise RuntimeError(
            "ws.join() needs keel.channels set up for this app: "
            "`from keel.channels import Channels; channels = Channels(app)`"
        )
    return hub  # type: ignore[no-any-return]
