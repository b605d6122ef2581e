"""keel.server: uvicorn's httptools protocol with a request-head timeout, on a real socket."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from keel import App, Request
from keel.server import (
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_MAX_HEAD_SIZE,
    DEFAULT_MAX_HEADERS,
    KeelHttpToolsProtocol,
    http_protocol,
    uvicorn_options,
)
from tests.live import running

TIMEOUT = 1.0


SEEN: list[str] = []  # the requests the app was given


def make_app() -> App:
    app = App()

    @app.get("/")
    async def index(request: Request) -> dict[str, str]:
        SEEN.append(request.headers.get("x-id", ""))
        return {"hello": "world"}

    @app.get("/slow")
    async def slow() -> dict[str, str]:
        await asyncio.sleep(TIMEOUT * 1.5)
        return {"slow": "done"}

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    return app


@pytest.fixture(scope="module")
def server() -> Iterator[uvicorn.Server]:
    options = uvicorn_options(header_timeout=TIMEOUT)
    with running(make_app(), name="uvicorn-head-timeout", lifespan="on", **options) as srv:
        yield srv


def connect(srv: uvicorn.Server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", srv.config.port), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_response(sock: socket.socket) -> bytes:
    """One complete response (head and Content-Length body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def trickle_until_closed(
    sock: socket.socket, start: bytes, *, every: float = 0.3
) -> tuple[float, bytes]:
    """Send ``start`` then one byte every ``every`` s; the seconds until EOF, and what came."""
    began = time.monotonic()
    sock.sendall(start)
    sock.settimeout(every)
    received = b""
    filler = b"st: 127.0.0.1\r\nX-Slow: " + b"a" * 1000
    for byte in filler:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            chunk = None
        if chunk == b"":
            return time.monotonic() - began, received
        if chunk:
            received += chunk
            continue
        try:
            sock.send(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            return time.monotonic() - began, received
        if time.monotonic() - began > 10:
            break
    raise AssertionError(f"the connection stayed open for {time.monotonic() - began:.1f} s")


GET = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def test_normal_request_works(server: uvicorn.Server) -> None:
    with connect(server) as sock:
        sock.sendall(GET)
        response = read_response(sock)
    assert response.startswith(b"HTTP/1.1 200 ")
    assert response.endswith(b'{"hello":"world"}')


def test_trickled_head_is_cut_with_a_408(server: uvicorn.Server) -> None:
    with connect(server) as sock:
        elapsed, received = trickle_until_closed(sock, b"GET / HTTP/1.1\r\nHo")
    assert TIMEOUT - 0.1 <= elapsed <= TIMEOUT + 0.5, elapsed
    assert received.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert b"connection: close" in received.lower()
    assert b"application/problem+json" in received
    assert received.endswith(b'"status":408,' + received.split(b'"status":408,')[1])


def test_silent_connection_is_closed_without_an_answer(server: uvicorn.Server) -> None:
    with connect(server) as sock:
        began = time.monotonic()
        sock.settimeout(5)
        data = sock.recv(1024)
        elapsed = time.monotonic() - began
    assert data == b""
    assert TIMEOUT - 0.1 <= elapsed <= TIMEOUT + 0.5, elapsed


def test_slow_head_of_a_keep_alive_request_is_cut(server: uvicorn.Server) -> None:
    with connect(server) as sock:
        sock.sendall(GET)
        assert read_response(sock).startswith(b"HTTP/1.1 200 ")
        time.sleep(TIMEOUT + 0.3)  # idle between requests: uvicorn's keep-alive (5 s) applies
        elapsed, received = trickle_until_closed(sock, b"GET / HTTP/1.1\r\nHo")
    assert elapsed <= TIMEOUT + 0.5, elapsed
    assert received.startswith(b"HTTP/1.1 408 ")


def test_many_quick_keep_alive_requests_are_not_cut(server: uvicorn.Server) -> None:
    with connect(server) as sock:
        began = time.monotonic()
        count = 0
        while time.monotonic() - began < TIMEOUT * 2:
            sock.sendall(GET)
            assert read_response(sock).startswith(b"HTTP/1.1 200 ")
            count += 1
            time.sleep(0.1)
    assert count > 10


def test_a_pipelined_head_waiting_behind_a_slow_response_is_not_cut(
    server: uvicorn.Server,
) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET / HTTP/1.1\r\nHo")
        first = read_response(sock)
        assert first.startswith(b"HTTP/1.1 200 ")
        assert first.endswith(b'{"slow":"done"}')
        sock.sendall(b"st: 127.0.0.1\r\n\r\n")
        second = read_response(sock)
    assert second.startswith(b"HTTP/1.1 200 ")
    assert second.endswith(b'{"hello":"world"}')


def test_the_timeout_covers_the_head_only(server: uvicorn.Server) -> None:
    with connect(server) as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream"
            b"\r\nContent-Length: 4\r\n\r\nab"
        )
        time.sleep(TIMEOUT + 0.3)
        sock.sendall(b"cd")
        response = read_response(sock)
    assert response.startswith(b"HTTP/1.1 200 ")
    assert response.endswith(b'{"size":4}')


def test_connections_use_keel_httptools_protocol_never_h11(server: uvicorn.Server) -> None:
    protocol: type[object] = server.config.http_protocol_class
    assert not issubclass(protocol, H11Protocol)
    assert issubclass(protocol, KeelHttpToolsProtocol)
    assert issubclass(protocol, HttpToolsProtocol)
    with connect(server) as sock:
        sock.sendall(GET)
        read_response(sock)
        kinds = {type(c) for c in server.server_state.connections}
    assert kinds and all(issubclass(k, KeelHttpToolsProtocol) for k in kinds), kinds


def test_protocol_factory_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert http_protocol() is KeelHttpToolsProtocol
    assert http_protocol(2.5).header_timeout == 2.5
    assert KeelHttpToolsProtocol.header_timeout is None
    assert DEFAULT_HEADER_TIMEOUT == 10.0
    with pytest.raises(ValueError):
        http_protocol(0)
    options: dict[str, Any] = uvicorn_options()
    assert options["http"] is KeelHttpToolsProtocol
    assert options["loop"] in ("auto", "uvloop")
    from keel import server as module

    assert module._env_timeout() == 10.0
    monkeypatch.setenv("KEEL_HEADER_TIMEOUT", "3.5")
    assert module._env_timeout() == 3.5
    monkeypatch.setenv("KEEL_HEADER_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="KEEL_HEADER_TIMEOUT"):
        module._env_timeout()
    monkeypatch.setenv("KEEL_HEADER_TIMEOUT", "-1")
    with pytest.raises(ValueError, match="positive"):
        module._env_timeout()


def test_environment_timeout_reaches_the_module_class(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEL_HEADER_TIMEOUT", "0.5")
    with running(make_app(), lifespan="off", http=KeelHttpToolsProtocol) as srv:
        with connect(srv) as sock:
            elapsed, received = trickle_until_closed(sock, b"GET / HTTP/1.1\r\nHo", every=0.1)
        assert elapsed <= 1.0, elapsed
        assert received.startswith(b"HTTP/1.1 408 ")


# -- header count and size ------------------------------------------------------------------


def read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    sock.settimeout(5)
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def head(*lines: bytes, target: bytes = b"/") -> bytes:
    return b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"".join(lines) + b"\r\n"


def assert_431(received: bytes, detail: bytes) -> None:
    assert received.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"), received[:80]
    assert b"connection: close" in received
    assert b"content-type: application/problem+json" in received
    assert b'"status":431' in received
    assert detail in received


def test_as_many_header_fields_as_allowed_are_fine(server: uvicorn.Server) -> None:
    fields = [b"X-A: %d\r\n" % n for n in range(DEFAULT_MAX_HEADERS - 2)]
    with connect(server) as sock:
        sock.sendall(head(*fields, b"X-Id: fine\r\n"))
        assert read_response(sock).startswith(b"HTTP/1.1 200 ")
    assert SEEN[-1] == "fine"


def test_too_many_header_fields_is_431(server: uvicorn.Server) -> None:
    seen = len(SEEN)
    fields = [b"X-A: %d\r\n" % n for n in range(10_000)]
    with connect(server) as sock:
        sock.sendall(head(b"X-Id: many\r\n", *fields))
        received = read_until_closed(sock)
    assert_431(received, b"more than 100 header fields")
    assert len(SEEN) == seen  # the app never saw it


@pytest.mark.parametrize(
    "request_head",
    [
        head(b"X-Big: " + b"a" * 2_000_000 + b"\r\n"),
        head(b"X-Big: " + b"a" * (DEFAULT_MAX_HEAD_SIZE + 1) + b"\r\n"),
        head(*[b"X-%d: " % n + b"a" * 1000 + b"\r\n" for n in range(70)]),
        head(target=b"/?" + b"q" * 100_000),
    ],
    ids=["2 MB value", "just over", "70 x 1 KB", "100 KB target"],
)
def test_a_head_over_the_size_limit_is_431(server: uvicorn.Server, request_head: bytes) -> None:
    seen = len(SEEN)
    with connect(server) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request_head)  # may be refused before the client finished sending
        received = read_until_closed(sock)
    assert_431(received, b"larger than 65536 bytes")
    assert len(SEEN) == seen


def test_a_growing_head_is_refused_before_it_is_complete(server: uvicorn.Server) -> None:
    """Sent in pieces and never finished: refused once it passes the limit, not at timeout."""
    with connect(server) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
        began = time.monotonic()
        try:
            for _ in range(20):
                sock.sendall(b"a" * 8192)
                time.sleep(0.01)
        except (BrokenPipeError, ConnectionResetError):
            pass
        received = read_until_closed(sock)
        elapsed = time.monotonic() - began
    assert_431(received, b"larger than 65536 bytes")
    assert elapsed < TIMEOUT  # not the head timeout


def test_keep_alive_requests_each_get_the_full_budget(server: uvicorn.Server) -> None:
    fields = [b"X-A: %d\r\n" % n for n in range(DEFAULT_MAX_HEADERS - 2)]
    with connect(server) as sock:
        for _ in range(3):
            sock.sendall(head(*fields))
            assert read_response(sock).startswith(b"HTTP/1.1 200 ")
        sock.sendall(head(*fields, *fields))
        assert_431(read_until_closed(sock), b"more than 100 header fields")


def test_limits_are_configurable() -> None:
    protocol = http_protocol(max_headers=3, max_head_size=200)
    assert (protocol.max_headers, protocol.max_head_size) == (3, 200)
    assert protocol.header_timeout is None
    assert KeelHttpToolsProtocol.max_headers == DEFAULT_MAX_HEADERS == 100
    with pytest.raises(ValueError, match="max_headers"):
        http_protocol(max_headers=0)
    with running(make_app(), lifespan="off", http=protocol) as srv:
        with connect(srv) as sock:
            sock.sendall(head(b"X-A: 1\r\n"))
            assert read_response(sock).startswith(b"HTTP/1.1 200 ")
            sock.sendall(head(b"X-A: 1\r\n", b"X-B: 2\r\n", b"X-C: 3\r\n"))
            assert_431(read_until_closed(sock), b"more than 3 header fields")
        with connect(srv) as sock:
            sock.sendall(head(b"X-A: " + b"a" * 300 + b"\r\n"))
            assert_431(read_until_closed(sock), b"larger than 200 bytes")
