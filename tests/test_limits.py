"""Every request limit, exceeded: a quick 4xx problem, with flat memory.

The limits come from ``keel.Settings``: ``max_body_size``, ``max_form_fields``,
``max_form_field_size``, ``max_files``, ``max_query_params``; JSON depth (200) and integer
length (4,300 digits) are fixed by the parser.
"""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from typing import Annotated, Any

import pytest
from pydantic import BaseModel

from keel import App, Form, Request, UploadFile
from keel._types import Message
from keel.settings import Settings
from keel.testing import TestClient
from tests.problems import problem, raw_problem

MiB = 1024 * 1024


class Doc(BaseModel):
    data: Any = None


def make_app(**limits: Any) -> App:
    app = App(settings=Settings(**limits))

    @app.post("/json")
    async def json_body(body: Doc) -> bool:
        return True

    @app.post("/upload")
    async def upload(files: list[UploadFile], note: Annotated[str, Form()] = "") -> int:
        return len(files)

    @app.post("/form")
    async def form(request: Request) -> int:
        return len((await request.form()).multi_items())

    @app.get("/typed")
    async def typed(a: str = "") -> str:
        return a

    @app.get("/raw")
    async def raw(request: Request) -> int:
        return len(request.query_params.multi_items())

    return app


def stream_call(
    app: App, path: str, content_type: bytes, total: int, head: bytes = b""
) -> tuple[list[Message], int]:
    """POST ``head`` then ``total`` bytes in 64 KiB chunks (chunked: no Content-Length),
    generated as they are read; return what the app sent and how many bytes it read."""
    sent: list[Message] = []
    read = 0
    chunk = b"x" * 65536

    async def receive() -> Message:
        nonlocal read
        if read == 0 and head:
            read = len(head)
            return {"type": "http.request", "body": head, "more_body": True}
        size = min(len(chunk), total - read)
        read += size
        return {"type": "http.request", "body": chunk[:size], "more_body": read < total}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", content_type),
            (b"transfer-encoding", b"chunked"),
        ],
        "query_string": b"",
    }
    asyncio.run(asyncio.wait_for(app(scope, receive, send), timeout=10))
    return sent, read


UPLOAD_HEAD = b'--b\r\nContent-Disposition: form-data; name="files"; filename="a.bin"\r\n\r\n'


@pytest.mark.parametrize(
    ("path", "content_type", "head"),
    [
        ("/json", b"application/json", b'{"data": "'),
        ("/upload", b"multipart/form-data; boundary=b", UPLOAD_HEAD),
        ("/form", b"application/x-www-form-urlencoded", b"a="),
    ],
)
def test_a_50_mb_chunked_body_is_refused_without_being_buffered(
    path: str, content_type: bytes, head: bytes
) -> None:
    app = make_app()  # the default limit: 1 MiB
    app.build()
    tracemalloc.start()
    started = time.perf_counter()
    try:
        sent, read = stream_call(app, path, content_type, 50 * MiB, head)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.perf_counter() - started
    body = raw_problem(sent, 413)
    assert body["limit"] == MiB
    assert read <= MiB + 2 * 65536  # stopped right after the limit
    assert peak < 8 * MiB, f"peak {peak / MiB:.1f} MiB"
    assert elapsed < 5


def multipart(parts: list[tuple[str, str | None, bytes]], boundary: str = "b") -> bytes:
    out = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        out += data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


MULTIPART = {"Content-Type": "multipart/form-data; boundary=b"}
URLENCODED = {"Content-Type": "application/x-www-form-urlencoded"}


def test_too_many_files_is_413() -> None:
    client = TestClient(make_app(max_files=2))
    two = multipart([("files", "a.txt", b"a"), ("files", "b.txt", b"b")])
    assert client.post("/upload", content=two, headers=MULTIPART).json() == 2
    three = multipart([("files", f"{n}.txt", b"x") for n in range(3)])
    body = problem(client.post("/upload", content=three, headers=MULTIPART), 413)
    assert body["detail"] == "Too many files (the limit is 2)"
    assert body["limit"] == 2


def test_a_file_over_the_body_limit_is_413() -> None:
    client = TestClient(make_app(max_body_size=1000))
    data = multipart([("files", "big.bin", b"x" * 2000)])
    problem(client.post("/upload", content=data, headers=MULTIPART), 413)


def test_a_multipart_field_over_the_field_size_is_413() -> None:
    client = TestClient(make_app(max_form_field_size=100))
    ok = multipart([("note", None, b"n" * 100), ("files", "a.txt", b"a" * 500)])
    assert client.post("/upload", content=ok, headers=MULTIPART).json() == 1
    big = multipart([("note", None, b"n" * 101), ("files", "a.txt", b"a")])
    body = problem(client.post("/upload", content=big, headers=MULTIPART), 413)
    assert body["detail"] == "Form field 'note' is larger than 100 bytes"
    assert body["limit"] == 100


def test_an_urlencoded_field_over_the_field_size_is_413() -> None:
    client = TestClient(make_app(max_form_field_size=100))
    assert (
        client.post("/form", content=b"a=" + b"x" * 100 + b"&b=1", headers=URLENCODED).json() == 2
    )
    body = problem(client.post("/form", content=b"a=1&b=" + b"%41" * 101, headers=URLENCODED), 413)
    assert body["detail"] == "Form field 'b' is larger than 100 bytes"


@pytest.mark.parametrize("kind", ["urlencoded", "multipart"])
def test_too_many_form_fields_is_413(kind: str) -> None:
    client = TestClient(make_app(max_form_fields=3))
    if kind == "urlencoded":
        content, headers = b"a=1&b=2&c=3&d=4", URLENCODED
    else:
        content = multipart([(n, None, b"1") for n in "abcd"])
        headers = MULTIPART
    body = problem(client.post("/form", content=content, headers=headers), 413)
    assert body["limit"] == 3


def test_a_huge_part_header_is_400() -> None:
    client = TestClient(make_app())
    data = (
        b'--b\r\nContent-Disposition: form-data; name="'
        + b"n" * 10_000
        + b'"\r\n\r\nx\r\n--b--\r\n'
    )
    body = problem(client.post("/form", content=data, headers=MULTIPART), 400)
    assert "header size" in body["detail"]


@pytest.mark.parametrize("path", ["/typed", "/raw"])
def test_too_many_query_parameters_is_400(path: str) -> None:
    client = TestClient(make_app(max_query_params=5))
    assert client.get(path + "?" + "&".join(f"a={n}" for n in range(5))).status_code == 200
    body = problem(client.get(path + "?" + "&".join(f"a={n}" for n in range(6))), 400)
    assert body["detail"] == "Too many query parameters (the limit is 5)"
    assert body["limit"] == 5


@pytest.mark.parametrize("path", ["/typed", "/raw"])
def test_the_default_query_parameter_limit_is_quick(path: str) -> None:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    query = b"&".join([b"a=1"] * 100_000)
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "headers": [(b"host", b"testserver")],
        "query_string": query,
    }
    started = time.perf_counter()
    asyncio.run(make_app()(scope, receive, send))
    assert time.perf_counter() - started < 2
    assert raw_problem(sent, 400)["limit"] == 1000


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nesting too deep"),
        (b'{"data": ' + b"9" * 100_000 + b"}", "a number is too long"),
        (b'{"data": 1e999999}', "too large for a float"),
    ],
)
def test_deep_json_and_huge_numbers_are_400(payload: bytes, reason: str) -> None:
    client = TestClient(make_app(max_body_size=None))
    started = time.perf_counter()
    body = problem(
        client.post("/json", content=payload, headers={"Content-Type": "application/json"}), 400
    )
    assert reason in body["detail"]
    assert time.perf_counter() - started < 2
