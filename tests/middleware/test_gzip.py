"""Compression: gzip (brotli when installed), minimum size, streaming, q-values, exclusions."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from keel import App
from keel.middleware import GZipMiddleware, Middleware
from keel.middleware.gzip import choose_encoding
from keel.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from keel.testing import AsyncTestClient, TestClient

BIG = "keel compresses text. " * 200  # 4400 bytes
CHUNKS = [f"line {i}: " + "x" * 100 + "\n" for i in range(50)]


def make_app(**options: Any) -> App:
    app = App(middleware=[Middleware(GZipMiddleware, **options)])

    @app.get("/big")
    async def big() -> PlainTextResponse:
        return PlainTextResponse(BIG, headers={"etag": '"v1"'})

    @app.get("/small")
    async def small() -> PlainTextResponse:
        return PlainTextResponse("tiny")

    @app.get("/json")
    async def as_json() -> dict[str, str]:
        return {"text": BIG}

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def gen() -> AsyncIterator[str]:
            for chunk in CHUNKS:
                yield chunk

        return StreamingResponse(gen(), media_type="text/plain")

    @app.get("/events")
    async def events() -> StreamingResponse:
        async def gen() -> AsyncIterator[str]:
            for i in range(20):
                yield f"data: {'e' * 100} {i}\n\n"

        return StreamingResponse(gen(), media_type="text/event-stream")

    @app.get("/encoded")
    async def encoded() -> Response:
        body = gzip.compress(BIG.encode())
        return Response(body, media_type="text/plain", headers={"content-encoding": "gzip"})

    @app.get("/png")
    async def png() -> Response:
        return Response(b"\x89PNG" + b"\0" * 4000, media_type="image/png")

    @app.get("/no-transform")
    async def no_transform() -> PlainTextResponse:
        return PlainTextResponse(BIG, headers={"cache-control": "no-transform"})

    @app.get("/varied")
    async def varied() -> JSONResponse:
        return JSONResponse({"text": BIG}, headers={"vary": "Origin"})

    return app


@pytest.fixture(scope="module")
def app() -> App:
    return make_app()


@pytest.fixture(scope="module")
def gzip_only() -> App:
    """The same app whether or not brotli is installed."""
    return make_app(use_brotli=False)


@pytest.fixture(scope="module")
def client(app: App) -> Any:
    with TestClient(app) as c:
        yield c


def raw(app: App, path: str, accept: str | None = "gzip") -> tuple[Any, bytes]:
    """The response and its body as sent (not decoded by the client)."""

    async def go() -> tuple[Any, bytes]:
        async with AsyncTestClient(app) as c:
            request = c.build_request("GET", path)
            if accept is None:  # httpx sends its own by default
                del request.headers["accept-encoding"]
            else:
                request.headers["accept-encoding"] = accept
            r = await c.send(request, stream=True)
            try:
                return r, b"".join([piece async for piece in r.aiter_raw()])
            finally:
                await r.aclose()

    return asyncio.run(go())


def test_big_response_is_gzipped_with_right_length(app: App) -> None:
    r, body = raw(app, "/big", "gzip")
    assert r.headers["content-encoding"] == "gzip"
    assert r.headers["vary"] == "Accept-Encoding"
    assert int(r.headers["content-length"]) == len(body) < len(BIG)
    assert gzip.decompress(body).decode() == BIG
    assert r.headers["etag"] == 'W/"v1"'  # other bytes: only weakly equal


def test_json_is_gzipped_and_decoded_by_the_client(client: TestClient) -> None:
    r = client.get("/json", headers={"accept-encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip"
    assert r.json() == {"text": BIG}


def test_small_response_is_sent_as_is_but_varies(app: App) -> None:
    r, body = raw(app, "/small")
    assert "content-encoding" not in r.headers
    assert body == b"tiny"
    assert r.headers["content-length"] == "4"
    assert r.headers["vary"] == "Accept-Encoding"


def test_minimum_size_is_configurable() -> None:
    r, body = raw(make_app(minimum_size=0), "/small")
    assert r.headers["content-encoding"] == "gzip"
    assert gzip.decompress(body) == b"tiny"


def asgi_messages(app: App, path: str, accept: str) -> list[dict[str, Any]]:
    """Every ASGI message the app (through its middleware) sent, in order."""
    sent: list[dict[str, Any]] = []

    async def go() -> None:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"testserver"), (b"accept-encoding", accept.encode())],
            "client": ("127.0.0.1", 1),
            "server": ("testserver", 80),
        }

        requested = False
        done = asyncio.Event()

        async def receive() -> dict[str, Any]:
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message: Any) -> None:
            sent.append(dict(message))
            if message["type"] == "http.response.body" and not message.get("more_body"):
                done.set()

        await app(scope, receive, send)

    asyncio.run(go())
    return sent


def test_streamed_response_is_compressed_chunk_by_chunk(app: App) -> None:
    sent = asgi_messages(app, "/stream", "gzip")
    headers = dict(sent[0]["headers"])
    assert headers[b"content-encoding"] == b"gzip"
    assert b"content-length" not in headers
    pieces = [m["body"] for m in sent[1:]]
    assert len(pieces) >= len(CHUNKS)
    assert all(m.get("more_body") for m in sent[1:-1])
    assert not sent[-1].get("more_body")
    # each chunk was flushed on its own: a decompressor makes progress on every piece
    decomp = zlib.decompressobj(31)
    produced = [decomp.decompress(p) for p in pieces if p]
    assert sum(1 for p in produced if p) >= len(CHUNKS) // 2
    assert b"".join(produced) + decomp.flush() == "".join(CHUNKS).encode()


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("/events", "event stream"),
        ("/encoded", "already encoded"),
        ("/png", "incompressible type"),
        ("/no-transform", "no-transform"),
    ],
)
def test_never_compressed(app: App, path: str, why: str) -> None:
    r, body = raw(app, path)
    assert r.headers.get("content-encoding") in (None, "gzip"), why
    if path == "/encoded":
        assert gzip.decompress(body).decode() == BIG  # once, not twice
    else:
        assert "content-encoding" not in r.headers, why


@pytest.mark.parametrize(
    "accept",
    [None, "", "identity", "gzip;q=0", "br", "br;q=0", "gzip;q=0, *;q=1", "*;q=0", "deflate"],
)
def test_no_acceptable_coding_means_plain(gzip_only: App, accept: str | None) -> None:
    r, body = raw(gzip_only, "/big", accept)
    assert "content-encoding" not in r.headers, accept
    assert body.decode() == BIG
    assert r.headers["vary"] == "Accept-Encoding"


@pytest.mark.parametrize(
    "accept", ["gzip", "GZIP", "x-gzip", "deflate, gzip;q=0.5", "*", "br;q=0, *"]
)
def test_gzip_accepted(gzip_only: App, accept: str) -> None:
    r, _ = raw(gzip_only, "/big", accept)
    assert r.headers["content-encoding"] == "gzip"


def test_existing_vary_is_extended(app: App) -> None:
    r, _ = raw(app, "/varied")
    assert r.headers.get_list("vary") == ["Origin, Accept-Encoding"]


def test_head_is_not_compressed(client: TestClient) -> None:
    r = client.head("/big", headers={"accept-encoding": "gzip"})
    assert "content-encoding" not in r.headers


def test_choose_encoding() -> None:
    assert choose_encoding("gzip, br", ("br", "gzip")) == "br"
    assert choose_encoding("gzip;q=1, br;q=0.5", ("br", "gzip")) == "gzip"
    assert choose_encoding("br;q=0, *", ("br", "gzip")) == "gzip"
    assert choose_encoding("gzip;q=0", ("gzip",)) is None
    assert choose_encoding("gzip;q=bogus, gzip", ("gzip",)) == "gzip"
    assert choose_encoding("gzip;q=2", ("gzip",)) is None
    assert choose_encoding(",,,", ("gzip",)) is None


def test_brotli_when_installed() -> None:
    brotli = pytest.importorskip("brotli", reason="brotli is optional (pip install brotli)")
    r, body = raw(make_app(), "/big", "gzip, br")
    assert r.headers["content-encoding"] == "br"
    assert brotli.decompress(body).decode() == BIG
    r, data = raw(make_app(), "/stream", "br")
    assert brotli.decompress(data).decode() == "".join(CHUNKS)
    r, _ = raw(make_app(use_brotli=False), "/big", "gzip, br")
    assert r.headers["content-encoding"] == "gzip"


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError):
        GZipMiddleware(make_app(), minimum_size=-1)
    with pytest.raises(ValueError):
        GZipMiddleware(make_app(), compresslevel=10)


def test_many_distinct_accept_encodings_do_not_grow_memory() -> None:
    app = App(middleware=[Middleware(GZipMiddleware, use_brotli=False)])

    @app.get("/")
    async def index() -> PlainTextResponse:
        return PlainTextResponse(BIG)

    with TestClient(app) as c:
        for i in range(300):
            r = c.get("/", headers={"accept-encoding": f"gzip;q=0.{i % 10 + 1}, x-{i}"})
            assert r.headers["content-encoding"] == "gzip"
    built = app._stack
    while built is not None and not isinstance(built, GZipMiddleware):
        built = getattr(built, "app", None)
    assert isinstance(built, GZipMiddleware)
    assert 0 < len(built._choices) <= 256
