"""uvicorn with a request-head timeout: keel's HTTP/1.1 protocol class.

uvicorn's httptools protocol has no limit on how long a client may take to send its request
line and headers, so a client that trickles them a byte at a time holds a connection (and
its memory) for as long as it likes: the "slowloris" attack. :class:`KeelHttpToolsProtocol`
closes a connection whose request head is not complete within ``header_timeout`` seconds
(10 by default), for the first request and for every keep-alive request after it.

What the client gets when the time is up:

* nothing, when it never sent a byte of the request (an idle, pre-opened connection: the
  connection is closed, as uvicorn's keep-alive timeout does);
* ``408 Request Timeout`` with ``Connection: close`` and a problem-details body, when it
  had started a request (RFC 9110 §15.5.9: a 408 tells an honest but slow client what
  happened, and that it may retry on a new connection).

httptools itself limits neither the number nor the size of header fields (10,000 headers
or a 2 MB header value were answered 200), so the protocol also refuses a request head with
more than ``max_headers`` fields (100) or over ``max_head_size`` bytes (64 KiB, request line
included) with ``431 Request Header Fields Too Large`` and closes the connection; the app
never sees the request.

Use it with uvicorn::

    uvicorn.run(app, http=keel.server.http_protocol(header_timeout=10))

or ``uvicorn.Config(app, **keel.server.uvicorn_options())``. With several worker processes
or ``--reload`` uvicorn must import the protocol class by name in each child, so pass the
module-level :class:`KeelHttpToolsProtocol` and set the timeout with the
``KEEL_HEADER_TIMEOUT`` environment variable (seconds), which children inherit.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import time
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = [
    "DEFAULT_HEADER_TIMEOUT",
    "DrainingServer",
    "DEFAULT_MAX_HEADERS",
    "DEFAULT_MAX_HEAD_SIZE",
    "KeelHttpToolsProtocol",
    "http_protocol",
    "uvicorn_options",
    "websocket_options",
]

DEFAULT_HEADER_TIMEOUT = 10.0
"""Seconds a client has to send a complete request head."""

DEFAULT_MAX_HEADERS = 100
"""Most header fields in a request head (431 beyond)."""

DEFAULT_MAX_HEAD_SIZE = 64 * 1024
"""Most bytes in a request head, request line included (431 beyond)."""

_ENV = "KEEL_HEADER_TIMEOUT"
_LINGER = 1.0  # seconds a refused connection is drained before it is closed


def _env_timeout() -> float:
    raw = os.environ.get(_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_HEADER_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{_ENV}={raw!r} is not a number of seconds") from None
    if not value > 0:
        raise ValueError(f"{_ENV} must be a positive number of seconds, got {raw!r}")
    return value


def _timeout_body() -> bytes:
    problem = {
        "type": "about:blank",
        "title": "Request Timeout",
        "status": 408,
        "detail": "The request head (request line and headers) was not received in time.",
    }
    return json.dumps(problem, separators=(",", ":")).encode()


def _too_large_response(detail: str) -> bytes:
    problem = {
        "type": "about:blank",
        "title": "Request Header Fields Too Large",
        "status": 431,
        "detail": detail,
    }
    body = json.dumps(problem, separators=(",", ":")).encode()
    return (
        b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
        b"content-type: application/problem+json\r\n"
        b"connection: close\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


_TIMEOUT_BODY = _timeout_body()
_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: application/problem+json\r\n"
    b"connection: close\r\n"
    b"content-length: " + str(len(_TIMEOUT_BODY)).encode() + b"\r\n\r\n" + _TIMEOUT_BODY
)


class KeelHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools HTTP/1.1 protocol plus a deadline for each request head.

    The clock starts when the connection opens (first request) or when the first byte of
    a keep-alive request arrives, and stops when the parser has the whole head. While an
    earlier request on the connection is still being answered the clock does not run
    (a pipelined head waits for its turn through no fault of the client).

    Attributes:
        header_timeout: Seconds allowed for a request head; ``None`` reads
            ``KEEL_HEADER_TIMEOUT`` (default 10). Set it on a subclass, or use
            :func:`http_protocol`.
        max_headers: Most header fields in a request head (431 beyond).
        max_head_size: Most bytes in a request head, request line included (431 beyond).
    """

    header_timeout: float | None = None
    max_headers: int = DEFAULT_MAX_HEADERS
    max_head_size: int = DEFAULT_MAX_HEAD_SIZE

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        configured = type(self).header_timeout
        self._head_limit = configured if configured is not None else _env_timeout()
        self._head_timer: asyncio.TimerHandle | None = None
        self._in_head = False
        self._head_bytes = 0
        self._header_count = 0
        self._head_size = 0
        self._refused = False

    # -- the deadline ------------------------------------------------------------------------

    def _arm_head_timer(self) -> None:
        if self._head_timer is None and not self.transport.is_closing():
            self._head_timer = self.loop.call_later(self._head_limit, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _busy(self) -> bool:
        cycle = self.cycle
        return cycle is not None and not cycle.response_complete

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._busy():  # an earlier response is still going out: wait for it
            return
        self.logger.info(
            "Closing connection from %s: request head not received within %.3g s",
            f"{self.client[0]}:{self.client[1]}" if self.client else "unknown client",
            self._head_limit,
        )
        if self._head_bytes:
            self.transport.write(_TIMEOUT_RESPONSE)
        self.transport.close()

    # -- uvicorn's hooks ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the clock for the first request head."""
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clock."""
        self._disarm_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Feed the parser, counting bytes of a head in progress."""
        if self._refused:
            return
        if not self._busy() or self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > self.max_head_size:  # still incomplete
            self._refuse_head(f"The request head is larger than {self.max_head_size} bytes.")

    # -- header count and size ---------------------------------------------------------------

    def _refuse_head(self, detail: str) -> None:
        """Answer 431 and close; the rest of the connection's data is ignored."""
        if self._refused:
            return
        self._refused = True
        self._in_head = False
        self._disarm_head_timer()
        self.logger.info(
            "Refusing request head from %s: %s",
            f"{self.client[0]}:{self.client[1]}" if self.client else "unknown client",
            detail,
        )
        transport = self.transport
        if transport.is_closing():
            return
        transport.write(_too_large_response(detail))
        # A lingering close: closing now, with the rest of the head unread, would make the
        # kernel reset the connection and the client could lose the answer. The write side
        # is shut after the answer; what still arrives is read and dropped for a moment.
        if transport.can_write_eof():
            transport.write_eof()
            self.loop.call_later(_LINGER, transport.close)
        else:
            transport.close()

    def on_url(self, url: bytes) -> None:
        """Count the request target toward the head size."""
        if self._refused:
            return
        self._head_size += len(url)
        if self._head_size > self.max_head_size:
            self._refuse_head(f"The request head is larger than {self.max_head_size} bytes.")
            return
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        """Count header fields and their bytes."""
        if self._refused:
            return
        self._header_count += 1
        self._head_size += len(name) + len(value) + 4
        if self._header_count > self.max_headers:
            self._refuse_head(f"The request has more than {self.max_headers} header fields.")
            return
        if self._head_size > self.max_head_size:
            self._refuse_head(f"The request head is larger than {self.max_head_size} bytes.")
            return
        super().on_header(name, value)

    def on_message_begin(self) -> None:
        """A new request starts: its head must arrive in time."""
        if self._refused:
            return
        super().on_message_begin()
        self._header_count = 0
        self._head_size = 0
        self._in_head = True
        if not self._busy():
            self._arm_head_timer()

    def on_headers_complete(self) -> None:
        """The head is complete: stop the clock."""
        if self._refused:  # answered 431: the app never sees this request
            return
        self._in_head = False
        self._head_bytes = 0
        self._disarm_head_timer()
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        """Pass the body on, unless the head was refused."""
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        """Finish the request, unless its head was refused."""
        if not self._refused:
            super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        """uvicorn's 400 for malformed requests, unless a 431 was already sent."""
        if not self._refused:
            super().send_400_response(msg)

    def shutdown(self) -> None:
        """The server stops: open event streams end now (websockets get 1012 from uvicorn)."""
        from keel._live import begin_shutdown

        begin_shutdown()
        super().shutdown()

    def on_response_complete(self) -> None:
        """Between requests uvicorn's keep-alive timeout applies; a started head is timed."""
        super().on_response_complete()
        self._disarm_head_timer()
        if self._in_head and not self.transport.is_closing():
            self._arm_head_timer()


def http_protocol(
    header_timeout: float | None = None,
    *,
    max_headers: int | None = None,
    max_head_size: int | None = None,
) -> type[KeelHttpToolsProtocol]:
    """The protocol class to give uvicorn (``http=``), with ``header_timeout`` seconds.

    ``None`` everywhere returns :class:`KeelHttpToolsProtocol` itself (timeout from
    ``KEEL_HEADER_TIMEOUT``, default 10 s; 100 header fields; 64 KiB heads), the only form
    that works with several workers or ``--reload``; otherwise a subclass for
    single-process servers.

    Raises:
        ValueError: ``header_timeout``, ``max_headers`` or ``max_head_size`` is not positive.
    """
    options: dict[str, Any] = {}
    if header_timeout is not None:
        if not header_timeout > 0:
            raise ValueError(
                f"header_timeout must be a positive number of seconds: {header_timeout}"
            )
        options["header_timeout"] = float(header_timeout)
    for name, value in (("max_headers", max_headers), ("max_head_size", max_head_size)):
        if value is not None:
            if not value > 0:
                raise ValueError(f"{name} must be positive: {value}")
            options[name] = int(value)
    if not options:
        return KeelHttpToolsProtocol
    return type(
        "KeelHttpToolsProtocol",
        (KeelHttpToolsProtocol,),
        {**options, "__module__": __name__},
    )


def uvicorn_options(header_timeout: float | None = None) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run``/``uvicorn.Config``: keel's protocol and loop.

    ``http`` is keel's httptools protocol (never h11: see :mod:`keel.server`); ``loop`` is
    ``"uvloop"`` when installed.
    """
    options: dict[str, Any] = {"http": http_protocol(header_timeout), "loop": "auto"}
    try:
        import uvloop  # noqa: F401
    except ImportError:
        pass
    else:
        options["loop"] = "uvloop"
    return options


def websocket_options(settings: Any) -> dict[str, Any]:
    """uvicorn keyword arguments for the websocket limits and the drain timeout of
    ``settings`` (:class:`keel.settings.Settings`): the largest message (1009 beyond), the
    ping interval and pong timeout (1011 when a client does not answer), and how long open
    connections get at shutdown."""
    return {
        "ws_max_size": settings.ws_max_message_size,
        "ws_ping_interval": settings.ws_ping_interval,
        "ws_ping_timeout": settings.ws_ping_timeout,
        "timeout_graceful_shutdown": settings.drain_timeout,
    }


_log = logging.getLogger("keel.server")


def _unavailable_response() -> bytes:
    problem = {
        "type": "about:blank",
        "title": "Service Unavailable",
        "status": 503,
        "detail": "The server shut down before the request completed; retry it.",
    }
    body = json.dumps(problem, separators=(",", ":")).encode()
    return (
        b"HTTP/1.1 503 Service Unavailable\r\n"
        b"content-type: application/problem+json\r\n"
        b"retry-after: 1\r\n"
        b"connection: close\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


_UNAVAILABLE = _unavailable_response()


class DrainingServer(uvicorn.Server):
    """uvicorn's server with keel's graceful drain on ``SIGTERM`` (``keel serve``).

    On ``SIGTERM`` (or ``SIGINT``) it first marks the process as draining, so ``/readyz``
    answers 503 (:func:`keel.health.begin_drain`); after ``drain_delay`` seconds it stops
    accepting connections and lets in-flight requests finish for up to the config's
    ``timeout_graceful_shutdown`` seconds (``KEEL_DRAIN_TIMEOUT``), cancelling what is
    still running after that; then the app's shutdown hooks run and the process exits 0.
    A second ``SIGINT`` quits at once.

    Args:
        config: The uvicorn config (``timeout_graceful_shutdown`` is the drain timeout).
        drain_delay: Seconds between the signal and closing the listening socket.
    """

    def __init__(self, config: uvicorn.Config, *, drain_delay: float = 0.0) -> None:
        super().__init__(config)
        self.drain_delay = drain_delay
        self.drain_started: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Start draining; uvicorn re-raises no ``SIGTERM`` afterwards, so the exit is 0."""
        from keel.health import begin_drain

        if self.drain_started is None:
            self.drain_started = time.monotonic()
            begin_drain()
            _log.info(
                "Draining: /readyz answers 503; new connections refused in %g s, "
                "in-flight requests get %s s",
                self.drain_delay,
                self.config.timeout_graceful_shutdown,
            )
        if sig == signal.SIGINT and self.should_exit:
            self.force_exit = True
        elif self.drain_delay <= 0:
            self.should_exit = True

    async def shutdown(self, sockets: list[Any] | None = None) -> None:
        """Stop accepting, drain in-flight requests, then run the app's shutdown hooks.

        Requests still running when the drain timeout ends are answered 503 (a problem,
        ``Connection: close``) when their response has not started, then cancelled.
        """
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()  # idle keep-alive connections close; busy ones finish first
        try:
            async with asyncio.timeout(self.config.timeout_graceful_shutdown):
                while (self.server_state.connections or self.server_state.tasks) and not (
                    self.force_exit
                ):
                    await asyncio.sleep(0.02)
        except TimeoutError:
            self._cut_overrunning()
        for server in self.servers:
            await server.wait_closed()
        if not self.force_exit:
            await self.lifespan.shutdown()

    def _cut_overrunning(self) -> None:
        left = len(self.server_state.tasks)
        _log.warning("Drain timeout: answering 503 to and cancelling %d request(s)", left)
        for connection in list(self.server_state.connections):
            cycle = getattr(connection, "cycle", None)
            transport = getattr(connection, "transport", None)
            if cycle is None or transport is None or transport.is_closing():
                continue
            if not cycle.response_started:
                cycle.response_started = True  # uvicorn sends no 500 of its own after this
                transport.write(_UNAVAILABLE)
            transport.close()
        for task in self.server_state.tasks:
            task.cancel("keel: drain timeout")

    async def on_tick(self, counter: int) -> bool:
        """Exit the main loop once the drain delay has passed."""
        if (
            self.drain_started is not None
            and not self.should_exit
            and time.monotonic() - self.drain_started >= self.drain_delay
        ):
            self.should_exit = True
        return await super().on_tick(counter)
