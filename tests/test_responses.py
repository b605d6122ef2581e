from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field

from keel import App
from keel._types import Message
from keel.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
    is_safe_url,
)
from keel.testing import TestClient


class UserIn(BaseModel):
    name: str
    password: str


class UserOut(BaseModel):
    name: str


class Row:
    """An ORM-like object with attributes."""

    def __init__(self) -> None:
        self.name = "orm"
        self.password_hash = "secret-hash"


def make_app(tmp_path: Path) -> App:
    app = App()
    (tmp_path / "hello.txt").write_text("hello file")

    @app.post("/users", status=201)
    async def create(user: UserIn) -> UserOut:
        return user  # type: ignore[return-value]  # filtered by the declared schema

    @app.get("/row", response_model=UserOut)
    async def row() -> Row:
        return Row()

    @app.get("/rows")
    async def rows() -> list[UserOut]:
        return [Row(), {"name": "dict", "password": "x"}]  # type: ignore[list-item]

    @app.get("/bad")
    async def bad() -> UserOut:
        return {"nope": 1}  # type: ignore[return-value]

    @app.get("/text")
    async def text() -> PlainTextResponse:
        return PlainTextResponse("hi", headers={"x-a": "b"})

    @app.get("/html", response_class=HTMLResponse)
    async def html() -> str:
        return "<p>hi</p>"

    @app.get("/json")
    async def json_() -> JSONResponse:
        return JSONResponse({"a": 1}, status=202)

    @app.get("/redirect")
    async def redirect(to: str) -> RedirectResponse:
        return RedirectResponse(to)

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def gen() -> AsyncIterator[bytes]:
            for i in range(3):
                yield f"{i}\n".encode()

        return StreamingResponse(gen(), media_type="text/plain")

    @app.get("/sync-stream")
    def sync_stream() -> StreamingResponse:
        def gen() -> Iterator[str]:
            yield "a"
            yield "b"

        return StreamingResponse(gen())

    @app.get("/file")
    async def file() -> FileResponse:
        return FileResponse(tmp_path / "hello.txt", filename="hé.txt")

    @app.get("/missing-file")
    async def missing() -> FileResponse:
        return FileResponse(tmp_path / "nope.txt")

    @app.delete("/thing", status=204)
    async def delete() -> None:
        return None

    @app.get("/cookie")
    async def cookie() -> Response:
        r = Response("ok")
        r.set_cookie("session", "abc")
        r.set_cookie("pref", "x", httponly=False, samesite="strict", max_age=60)
        r.delete_cookie("old")
        return r

    return app


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    return TestClient(make_app(tmp_path), follow_redirects=False)


def test_response_schema_filters_fields(client: TestClient) -> None:
    r = client.post("/users", json={"name": "a", "password": "pw"})
    assert r.status_code == 201
    assert r.json() == {"name": "a"}
    assert client.get("/row").json() == {"name": "orm"}
    assert client.get("/rows").json() == [{"name": "orm"}, {"name": "dict"}]


def test_response_not_matching_schema_is_500_without_details(client: TestClient) -> None:
    with pytest.raises(Exception, match="does not match its declared schema"):
        client.get("/bad")
    quiet = TestClient(client.app, raise_server_exceptions=False)
    r = quiet.get("/bad")
    assert r.status_code == 500
    assert "nope" not in r.text
    assert r.headers["content-type"] == "application/problem+json"


def test_response_classes(client: TestClient) -> None:
    r = client.get("/text")
    assert (r.text, r.headers["content-type"], r.headers["x-a"]) == (
        "hi",
        "text/plain; charset=utf-8",
        "b",
    )
    r = client.get("/html")
    assert r.text == "<p>hi</p>"
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    r = client.get("/json")
    assert (r.status_code, r.json()) == (202, {"a": 1})


def test_streaming(client: TestClient) -> None:
    assert client.get("/stream").text == "0\n1\n2\n"
    assert client.get("/sync-stream").text == "ab"


def test_file_response(client: TestClient) -> None:
    r = client.get("/file")
    assert r.text == "hello file"
    assert r.headers["content-type"].startswith("text/plain")
    assert r.headers["content-length"] == "10"
    assert "etag" in r.headers and "last-modified" in r.headers
    assert "filename*=utf-8''h%C3%A9.txt" in r.headers["content-disposition"]
    head = client.head("/file")
    assert head.content == b"" and head.headers["content-length"] == "10"


def test_missing_file_is_500_problem(client: TestClient) -> None:
    quiet = TestClient(client.app, raise_server_exceptions=False)
    assert quiet.get("/missing-file").status_code == 500


def test_no_content(client: TestClient) -> None:
    r = client.delete("/thing")
    assert r.status_code == 204
    assert r.content == b""
    assert "content-type" not in r.headers


def test_cookie_defaults_are_safe(client: TestClient) -> None:
    r = client.get("/cookie")
    cookies = r.headers.get_list("set-cookie")
    assert any(
        c.startswith("session=abc") and "HttpOnly" in c and "SameSite=Lax" in c for c in cookies
    )
    pref = next(c for c in cookies if c.startswith("pref="))
    assert "HttpOnly" not in pref and "SameSite=Strict" in pref and "Max-Age=60" in pref
    assert any(c.startswith("old=") and "Max-Age=0" in c for c in cookies)
    # Secure is added automatically over HTTPS
    secure = TestClient(client.app, base_url="https://testserver").get("/cookie")
    assert all("Secure" in c for c in secure.headers.get_list("set-cookie"))
    assert not any("Secure" in c for c in cookies)


def test_redirect_never_splits_headers(client: TestClient) -> None:
    r = client.get("/redirect", params={"to": "/ok\r\nSet-Cookie: evil=1"})
    assert r.status_code == 307
    assert "evil" not in r.headers.get("set-cookie", "")
    assert r.headers["location"] == "/ok%0D%0ASet-Cookie:%20evil=1"


@pytest.mark.parametrize(
    "url",
    [
        "//evil.com",
        "https:evil.com",
        "http://user@evil.com",
        "https://evil.com/x",
        "javascript:alert(1)",
        "/\\evil.com",
        "\\\\evil.com",
        "/ok\r\n",
        "",
        " //evil.com",
        "http:///evil.com",
    ],
)
def test_unsafe_redirect_targets(url: str) -> None:
    assert not is_safe_url(url, allowed_hosts={"example.com"})


@pytest.mark.parametrize("url", ["/dashboard", "/a?b=c", "https://example.com/x", "page"])
def test_safe_redirect_targets(url: str) -> None:
    assert is_safe_url(url, allowed_hosts={"example.com"})


def test_header_values_reject_newlines() -> None:
    with pytest.raises(ValueError, match="CR, LF"):
        Response("x", headers={"x-a": "b\r\nc: d"})


def test_streaming_stops_when_client_disconnects() -> None:
    produced = 0

    async def forever() -> AsyncIterator[bytes]:
        nonlocal produced
        while True:
            produced += 1
            yield b"x"
            await asyncio.sleep(0)

    response = StreamingResponse(forever())
    messages: list[Message] = []
    disconnect = asyncio.Event()

    async def receive() -> dict[str, object]:
        await disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        messages.append(message)
        if len(messages) > 5:
            disconnect.set()

    asyncio.run(
        asyncio.wait_for(response({"type": "http", "method": "GET"}, receive, send), timeout=5)
    )
    assert produced < 100


def test_output_is_always_valid_json() -> None:
    import dataclasses
    import datetime
    import decimal
    import json
    import uuid

    @dataclasses.dataclass
    class Point:
        x: int

    app = App()

    @app.get("/values")
    async def values() -> dict[str, object]:
        return {
            "t": datetime.datetime(2024, 1, 2, 3, 4, 5),
            "u": uuid.UUID(int=1),
            "d": decimal.Decimal("1.5"),
            "nan": float("nan"),
            "p": Point(1),
        }

    @app.get("/untyped")
    async def untyped():  # type: ignore[no-untyped-def]
        return {"inf": float("inf"), "p": Point(2)}

    @app.get("/json")
    async def json_response() -> JSONResponse:
        return JSONResponse({"nan": float("nan")})

    client = TestClient(app)

    def reject(constant: str) -> None:
        pytest.fail(f"invalid JSON constant {constant}")

    for path in ("/values", "/untyped", "/json"):
        json.loads(client.get(path).text, parse_constant=reject)
    assert client.get("/values").json()["t"] == "2024-01-02T03:04:05"
    assert client.get("/untyped").json() == {"inf": None, "p": {"x": 2}}


def test_test_client_passes_encoded_bodies_through() -> None:
    import gzip

    app = App()

    @app.get("/gz")
    async def gz() -> Response:
        return Response(
            gzip.compress(b"hello " * 100),
            headers={"content-encoding": "gzip"},
            media_type="text/plain",
        )

    r = TestClient(app).get("/gz")
    assert r.text == "hello " * 100


def test_statuses_without_content_never_send_a_body() -> None:
    """RFC 9110: 1xx, 204, 205 and 304 carry no content; 205 says so with Content-Length: 0."""
    app = App()

    @app.post("/reset", status=205)
    async def reset() -> dict[str, int]:
        return {"a": 1}

    @app.post("/none", status=204)
    async def none() -> dict[str, int]:
        return {"a": 1}

    @app.post("/explicit")
    async def explicit() -> JSONResponse:
        return JSONResponse({"a": 1}, 205)

    @app.post("/changed")
    async def changed(response: Response) -> dict[str, int]:
        response.status = 204
        return {"a": 1}

    @app.post("/changed-after")
    async def changed_after() -> JSONResponse:
        out = JSONResponse({"a": 1})
        out.status = 304
        return out

    client = TestClient(app)
    for path in ("/reset", "/explicit"):
        r = client.post(path)
        assert r.status_code == 205 and r.content == b"", path
        assert r.headers["content-length"] == "0", path
    for path, status in (("/none", 204), ("/changed", 204), ("/changed-after", 304)):
        r = client.post(path)
        assert r.status_code == status and r.content == b"", path
        assert "content-length" not in r.headers, path


@pytest.mark.parametrize("name", ["ORJSONResponse", "UJSONResponse"])
def test_optional_json_responses(name: str) -> None:
    import importlib.util

    import keel.responses

    cls = getattr(keel.responses, name)
    package = name.removesuffix("Response").lower()
    app = App()

    @app.get("/", response_class=cls)
    async def index() -> dict[str, object]:
        return {"a": [1, "é"]}

    if importlib.util.find_spec(package) is None:
        with pytest.raises(ImportError, match=f"needs the '{package}' package: pip install"):
            cls({"a": 1})
    else:
        r = TestClient(app).get("/")
        assert (r.json(), r.headers["content-type"]) == ({"a": [1, "é"]}, "application/json")


class AliasedUser(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    user_name: str = Field(alias="userName")


def test_response_models_use_their_aliases_as_the_document_says() -> None:
    app = App()

    @app.get("/user")
    async def user() -> AliasedUser:
        return AliasedUser(user_name="ada")

    @app.get("/names", response_model=AliasedUser, response_model_by_alias=False)
    async def names() -> dict[str, str]:
        return {"userName": "ada"}

    client = TestClient(app)
    assert client.get("/user").json() == {"userName": "ada"}
    assert client.get("/names").json() == {"user_name": "ada"}
    schema = app.openapi()["components"]["schemas"]["AliasedUser"]
    assert list(schema["properties"]) == ["userName"]
