from __future__ import annotations

import asyncio
import datetime
import decimal
import json
import re
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, ConfigDict

from keel import App, Body, File, Form, Request, UploadFile
from keel._types import Message
from keel.testing import TestClient
from tests.problems import problem, raw_problem


class Login(BaseModel):
    username: str
    password: str
    age: int = 0


class Doc(BaseModel):
    data: Any = None
    n: int = 0
    x: float = 0.0
    s: str = ""


def make_app() -> App:
    app = App(max_body_size=1024)

    @app.post("/login")
    async def login(body: Login) -> dict[str, str]:
        return {"user": body.username}

    @app.post("/doc")
    async def doc(body: Doc) -> dict[str, bool]:
        return {"ok": True}

    @app.post("/raw")
    async def raw(request: Request) -> dict[str, Any]:
        return {"json": await request.json()}

    @app.post("/bytes")
    async def raw_bytes(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    @app.post("/big", max_body_size=10_000)
    async def big(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    @app.post("/stream")
    async def stream(request: Request) -> dict[str, int]:
        total = 0
        async for chunk in request.stream():
            total += len(chunk)
        return {"size": total}

    @app.post("/form")
    async def form(
        name: Annotated[str, Form()], tags: Annotated[list[str], Form()] = []
    ) -> dict[str, Any]:
        return {"name": name, "tags": tags}

    @app.post("/login-form")
    async def login_form(data: Annotated[Login, Form()]) -> dict[str, Any]:
        return {"user": data.username, "age": data.age}

    @app.post("/upload", max_body_size=64 * 1024)
    async def upload(
        file: UploadFile, note: Annotated[str, Form()] = "", extra: list[UploadFile] = []
    ) -> dict[str, Any]:
        content = await file.read()
        return {
            "filename": file.filename,
            "type": file.content_type,
            "size": len(content),
            "note": note,
            "extra": [f.filename for f in extra],
        }

    @app.post("/upload-bytes")
    async def upload_bytes(data: Annotated[bytes, File()]) -> dict[str, int]:
        return {"size": len(data)}

    @app.get("/info")
    async def info(request: Request) -> dict[str, Any]:
        return {
            "method": request.method,
            "path": request.path,
            "url": str(request.url),
            "query": dict(request.query_params),
            "client": list(request.client or ()),
            "host": request.headers["HOST"],
        }

    return app


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(make_app())


JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{", "Malformed JSON"),
        (b'{"data": [1, 2}', "Malformed JSON"),
        (b'{"s": "\xff\xfe"}', "invalid UTF-8"),
        (b'{"s": "\\ud800"}', "Malformed JSON"),
        (b'{"x": NaN}', "NaN"),
        (b'{"x": Infinity}', "Infinity"),
        (b'{"x": -Infinity}', "Infinity"),
        (b'{"data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "too deep"),
        (b'{"n": ' + b"9" * 100_000 + b"}", "Malformed JSON"),
        (b'{"n": 1, "n": 2}', "duplicate key"),
        (b'{"data": {"a": 1, "a": 1}}', "duplicate key"),
    ],
)
def test_hostile_json_is_400(payload: bytes, reason: str) -> None:
    app = App(max_body_size=None)

    @app.post("/doc")
    async def doc(body: Doc) -> dict[str, bool]:
        return {"ok": True}

    @app.post("/raw")
    async def raw(request: Request) -> dict[str, bool]:
        await request.json()
        return {"ok": True}

    client = TestClient(app)
    for path in ("/doc", "/raw"):
        body = problem(client.post(path, content=payload, headers=JSON), 400)
        assert reason in body["detail"], body


def test_wrong_type_is_422_without_echoing_secrets(client: TestClient) -> None:
    secret = "hunter2-" + "x" * 100
    r = client.post("/login", json={"password": secret})
    body = problem(r, 422)
    assert secret not in r.text
    assert "hunter2" not in r.text
    assert body["errors"][0]["loc"] == ["body", "username"]
    # a wrong-typed secret field is not echoed either
    r = client.post("/login", json={"username": "u", "password": 12, "age": "old"})
    assert "12" not in str([e.get("input") for e in r.json()["errors"] if "password" in e["loc"]])
    age = next(e for e in r.json()["errors"] if e["loc"] == ["body", "age"])
    assert age["input"] == "old"


def test_long_values_are_truncated_in_errors(client: TestClient) -> None:
    r = client.post("/login", json={"username": "u", "password": "p", "age": "z" * 900})
    err = r.json()["errors"][0]
    assert len(err["input"]) < 60
    assert len(r.content) < 1000


def test_wrong_content_type_is_415(client: TestClient) -> None:
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        r = client.post(
            "/login", content=b'{"username":"u","password":"p"}', headers={"content-type": ctype}
        )
        problem(r, 415)
    r = client.post(
        "/login", content=b'{"username":"u","password":"p"}', headers={"content-type": ""}
    )
    problem(r, 415)
    r = client.post(
        "/login",
        content=b'{"username":"u","password":"p"}',
        headers={"content-type": "application/vnd.api+json; charset=utf-8"},
    )
    assert r.status_code == 200


def test_body_over_limit_is_413(client: TestClient) -> None:
    body = problem(client.post("/bytes", content=b"x" * 2000), 413)
    assert body["limit"] == 1024
    problem(
        client.post("/login", content=b'{"username": "' + b"a" * 2000 + b'"}', headers=JSON), 413
    )
    assert client.post("/big", content=b"x" * 5000).json() == {"size": 5000}
    problem(client.post("/big", content=b"x" * 20_000), 413)


def call_raw(
    app: App, path: str, headers: list[tuple[bytes, bytes]], receive: Any
) -> list[Message]:
    """Call the app as a server would, with a hand-made ``receive``; return what it sent."""
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": [(b"host", b"testserver"), *headers],
        "query_string": b"",
    }
    asyncio.run(asyncio.wait_for(app(scope, receive, send), timeout=5))
    return sent


def test_chunked_body_over_limit_is_refused_while_streaming() -> None:
    """The limit is enforced on the stream: the app stops reading once it is crossed."""
    consumed = 0

    async def receive() -> dict[str, Any]:
        nonlocal consumed
        consumed += 1
        return {"type": "http.request", "body": b"x" * 100, "more_body": consumed < 100_000}

    sent = call_raw(make_app(), "/stream", [(b"transfer-encoding", b"chunked")], receive)
    raw_problem(sent, 413)
    assert consumed <= 11  # 1 KiB limit / 100-byte chunks: stopped right after crossing it


def test_declared_content_length_over_limit_is_refused_before_reading() -> None:
    consumed = 0

    async def receive() -> dict[str, Any]:
        nonlocal consumed
        consumed += 1
        return {"type": "http.request", "body": b"", "more_body": False}

    sent = call_raw(make_app(), "/bytes", [(b"content-length", b"50000000")], receive)
    raw_problem(sent, 413)
    assert consumed == 0


def test_invalid_content_length_is_400() -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    sent = call_raw(make_app(), "/bytes", [(b"content-length", b"abc")], receive)
    raw_problem(sent, 400)


def test_stream(client: TestClient) -> None:
    assert client.post("/stream", content=b"abc" * 10).json() == {"size": 30}


def test_request_json(client: TestClient) -> None:
    assert client.post("/raw", json={"a": [1, 2]}).json() == {"json": {"a": [1, 2]}}


def test_urlencoded_form(client: TestClient) -> None:
    r = client.post("/form", data={"name": "n", "tags": ["a", "b"]})
    assert r.json() == {"name": "n", "tags": ["a", "b"]}
    body = problem(client.post("/form", data={"tags": "a"}), 422)
    assert body["errors"][0]["loc"] == ["body", "name"]


def test_form_model(client: TestClient) -> None:
    r = client.post("/login-form", data={"username": "u", "password": "p", "age": "3"})
    assert r.json() == {"user": "u", "age": 3}
    body = problem(client.post("/login-form", data={"username": "u"}), 422)
    assert body["errors"][0]["loc"] == ["body", "password"]


def test_form_with_json_body_is_415(client: TestClient) -> None:
    problem(client.post("/form", json={"name": "n"}), 415)


def test_too_many_form_fields_is_413() -> None:
    app = App(max_form_fields=10)

    @app.post("/form")
    async def form(name: Annotated[str, Form()]) -> dict[str, str]:
        return {"name": name}

    client = TestClient(app)
    data = "&".join(f"f{i}=1" for i in range(50)) + "&name=x"
    problem(
        client.post(
            "/form", content=data, headers={"content-type": "application/x-www-form-urlencoded"}
        ),
        413,
    )
    files = {f"f{i}": (None, "1") for i in range(50)}
    problem(client.post("/form", files=files), 413)


def test_form_invalid_utf8_is_400(client: TestClient) -> None:
    r = client.post(
        "/form",
        content=b"name=%ff%fe",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    problem(r, 400)


def test_multipart_upload(client: TestClient) -> None:
    r = client.post(
        "/upload",
        files=[
            ("file", ("a.txt", b"hello", "text/plain")),
            ("extra", ("b.bin", b"1", "application/octet-stream")),
            ("extra", ("c.bin", b"2", "application/octet-stream")),
        ],
        data={"note": "hi"},
    )
    assert r.json() == {
        "filename": "a.txt",
        "type": "text/plain",
        "size": 5,
        "note": "hi",
        "extra": ["b.bin", "c.bin"],
    }
    assert client.post("/upload-bytes", files={"data": ("d", b"abc")}).json() == {"size": 3}


def test_missing_file_is_422(client: TestClient) -> None:
    body = problem(client.post("/upload", files={"other": ("a", b"x")}), 422)
    assert body["errors"][0]["loc"] == ["body", "file"]
    # a plain field where a file is expected
    body = problem(client.post("/upload", files={"file": (None, "just text")}), 422)


def test_upload_over_limit_is_413(client: TestClient) -> None:
    problem(client.post("/upload", files={"file": ("a", b"x" * 70_000)}), 413)


def test_malformed_multipart_is_400(client: TestClient) -> None:
    problem(
        client.post(
            "/upload",
            content=b"--xx\r\nContent-Disposition: form-data\r\n\r\nabc\r\n--xx--\r\n",
            headers={"content-type": "multipart/form-data; boundary=xx"},
        ),
        400,
    )
    problem(
        client.post("/upload", content=b"garbage", headers={"content-type": "multipart/form-data"}),
        400,
    )
    problem(
        client.post(
            "/upload",
            content=b"not multipart at all",
            headers={"content-type": "multipart/form-data; boundary=zz"},
        ),
        400,
    )


def test_request_properties(client: TestClient) -> None:
    r = client.get("/info?a=1&a=2&b=")
    assert r.json() == {
        "method": "GET",
        "path": "/info",
        "url": "http://testserver/info?a=1&a=2&b=",
        "query": {"a": "1", "b": ""},
        "client": ["testclient", 50000],
        "host": "testserver",
    }


def test_a_body_that_never_arrives_is_408() -> None:
    app = App(body_timeout=0.2)

    @app.post("/doc")
    async def doc(body: Doc) -> dict[str, bool]:
        return {"ok": True}

    calls = 0

    async def receive() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls == 1:  # one byte, then silence
            return {"type": "http.request", "body": b"{", "more_body": True}
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    sent = call_raw(app, "/doc", [(b"content-type", b"application/json")], receive)
    raw_problem(sent, 408)
    assert (b"connection", b"close") in sent[0]["headers"]


@pytest.mark.parametrize(
    "payload",
    [
        b'{"n": 1, "\\u006e": 2}',
        b'{"s": "a\\"", "s": "b"}',
        b'{"data": [{"k": 1}, {"k": 2, "k": 3}]}',
        b'{"s": "x", "data": {"s": NaN}}',
    ],
)
def test_duplicate_keys_are_found_behind_escapes_and_nesting(payload: bytes) -> None:
    app = App()

    @app.post("/doc")
    async def doc(body: Doc) -> dict[str, bool]:
        return {"ok": True}

    problem(TestClient(app).post("/doc", content=payload, headers=JSON), 400)


def test_repeated_keys_in_sibling_objects_are_fine() -> None:
    app = App()

    @app.post("/doc")
    async def doc(body: Doc) -> dict[str, Any]:
        return {"data": body.data}

    payload = b'{"data": [{"k": 1, "s": "NaN"}, {"k": 2, "s": "Infinity"}], "s": "\\"k\\": 1"}'
    r = TestClient(app).post("/doc", content=payload, headers=JSON)
    assert r.json() == {"data": [{"k": 1, "s": "NaN"}, {"k": 2, "s": "Infinity"}]}


INFINITE = [
    b'{"x": 1e999999}',
    b'{"x": -1e999999}',
    b'{"x": 1E+400}',
    b'{"data": [1, 2, 1e999999]}',
    b'{"data": {"a": {"b": [-1e999999]}}}',
    b'{"data": 1' + b"0" * 400 + b".5}",
    b"[1e999999]",
]


@pytest.mark.parametrize("payload", INFINITE)
def test_numbers_too_large_for_a_float_are_400_not_null(payload: bytes) -> None:
    """``1e999999`` parses as infinity: accepting it would answer 200 and echo ``null``."""
    app = App()

    @app.post("/doc")
    async def doc(body: Doc) -> dict[str, Any]:
        return body.model_dump()

    @app.post("/raw")
    async def raw(request: Request) -> dict[str, Any]:
        return {"json": await request.json()}

    @app.post("/list")
    async def numbers(body: Annotated[list[float], Body()]) -> list[float]:
        return body

    client = TestClient(app)
    for path in ("/doc", "/raw") if payload[:1] == b"{" else ("/list", "/raw"):
        body = problem(client.post(path, content=payload, headers=JSON), 400)
        assert "too large" in body["detail"], body


def test_underflow_is_zero_like_every_json_parser() -> None:
    """``1e-999999`` is a tiny finite number: it reads as 0.0 (no information is invented)."""
    app = App()

    @app.post("/doc")
    async def doc(body: Doc) -> dict[str, Any]:
        return body.model_dump()

    client = TestClient(app)
    r = client.post("/doc", content=b'{"x": 1e-999999, "data": [-1e-400]}', headers=JSON)
    assert r.status_code == 200, r.text
    assert r.json()["x"] == 0.0 and r.json()["data"] == [-0.0]


def test_huge_integers_and_exponents_in_strings_are_fine() -> None:
    app = App()

    @app.post("/raw")
    async def raw(request: Request) -> dict[str, Any]:
        return {"json": await request.json()}

    payload = b'{"n": 1' + b"0" * 400 + b', "s": "1e999999 e0000 ' + b"9" * 400 + b'"}'
    r = TestClient(app).post("/raw", content=payload, headers=JSON)
    assert r.status_code == 200, r.text
    assert r.json()["json"]["n"] == 10**400


def test_query_params_and_typed_parameters_decode_alike() -> None:
    """One parser: a raw ``é`` reaches ``request.query_params`` and ``s: str`` the same way."""
    app = App()

    @app.get("/q")
    async def q(request: Request, s: str) -> dict[str, Any]:
        return {
            "typed": s,
            "raw": request.query_params["s"],
            "all": request.query_params.getlist("s"),
        }

    for query in ("s=é".encode(), b"s=%C3%A9", "s=caf%C3%A9&s=é".encode(), b"s=a+b%2Bc"):
        sent = call_get(app, "/q", query)
        assert sent[0]["status"] == 200, sent
        got = json.loads(sent[1]["body"])
        assert got["typed"] == got["raw"] == got["all"][0], got
        assert got["raw"] in ("é", "café", "a b+c")


def test_invalid_utf8_in_query_params_is_400() -> None:
    app = App()

    @app.get("/raw")
    async def raw(request: Request) -> dict[str, Any]:
        return dict(request.query_params)

    @app.get("/typed")
    async def typed(s: str = "") -> dict[str, Any]:
        return {"s": s}

    client = TestClient(app)
    for path in ("/raw", "/typed"):
        problem(client.get(path + "?s=%ff"), 400)
        sent = call_get(app, path, b"s=\xff")
        raw_problem(sent, 400)


def call_get(app: App, path: str, query: bytes) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "headers": [(b"host", b"testserver")],
        "query_string": query,
    }
    asyncio.run(app(scope, receive, send))
    return sent


class StrictDoc(BaseModel):
    model_config = ConfigDict(strict=True)
    when: datetime.date
    price: decimal.Decimal


def test_json_mode_semantics_survive_the_single_parse() -> None:
    """Strict models (dates and decimals from strings) are still validated in JSON mode."""
    app = App()

    @app.post("/strict")
    async def strict(body: StrictDoc) -> dict[str, str]:
        return {"when": body.when.isoformat(), "price": str(body.price)}

    client = TestClient(app)
    payload = b'{"when": "2024-05-01", "price": "0.10000000000000000001"}'
    r = client.post("/strict", content=payload, headers=JSON)
    assert r.json() == {"when": "2024-05-01", "price": "0.10000000000000000001"}, r.text
    for bad in (b'{"when": "2024-05-01", "price": 1e999999}', b'{"when": 1, "when": 2}'):
        problem(client.post("/strict", content=bad, headers=JSON), 400)


def test_urlencoded_forms_decode_like_query_strings() -> None:
    app = App(max_form_fields=3)

    @app.post("/form")
    async def form(a: Annotated[str, Form()], b: Annotated[str, Form()] = "") -> dict[str, str]:
        return {"a": a, "b": b}

    client = TestClient(app)
    urlencoded = {"content-type": "application/x-www-form-urlencoded"}
    ok = client.post("/form", content="a=caf%C3%A9+au%2Blait&b=é&c=", headers=urlencoded)
    assert ok.json() == {"a": "café au+lait", "b": "é"}
    bad = problem(client.post("/form", content=b"a=%ff", headers=urlencoded), 400)
    assert "form body" in bad["detail"]
    problem(client.post("/form", content=b"a=1&b=2&c=3&d=4", headers=urlencoded), 413)


def test_the_collector_is_left_as_the_app_set_it() -> None:
    """Validating a body pauses the cycle collector; on success and on error it comes back."""
    import gc

    app = App()

    @app.post("/doc")
    async def doc(body: Doc) -> dict[str, bool]:
        return {"enabled": gc.isenabled()}

    client = TestClient(app)
    assert gc.isenabled()
    assert client.post("/doc", json={"n": 1}).json() == {"enabled": True}
    problem(client.post("/doc", json={"n": "x"}), 422)
    problem(client.post("/doc", content=b'{"n": 1, "n": 2}', headers=JSON), 400)
    assert gc.isenabled()
    gc.disable()
    try:
        assert client.post("/doc", json={"n": 1}).json() == {"enabled": False}
        problem(client.post("/doc", json={"n": "x"}), 422)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_client_address_has_host_and_port() -> None:
    app = App()

    @app.get("/")
    async def index(request: Request) -> list[object]:
        client = request.client
        assert client is not None
        host, port = client
        return [client.host, client.port, host, port]

    assert TestClient(app, client=("10.1.2.3", 4567)).get("/").json() == [
        "10.1.2.3",
        4567,
        "10.1.2.3",
        4567,
    ]


def test_form_route_without_any_body_reports_missing_fields() -> None:
    # Regression: a bodiless POST to a form route was a 415, not the missing fields.
    app = App()

    @app.post("/login")
    async def login(username: Annotated[str, Form()], password: Annotated[str, Form()]) -> str:
        return username

    @app.post("/upload")
    async def upload(file: Annotated[bytes | None, File()] = None) -> bool:
        return file is None

    client = TestClient(app)
    errors = problem(client.post("/login"), 422)["errors"]
    assert [e["loc"] for e in errors] == [["body", "username"], ["body", "password"]]
    assert client.post("/upload").json() is True
    problem(client.post("/login", json={"username": "u"}), 415)  # a body of another type


def test_strict_content_type_off_reads_untyped_bodies_as_json() -> None:
    def make(strict: bool) -> App:
        app = App(strict_content_type=strict)

        @app.post("/items")
        async def create(item: dict[str, int]) -> dict[str, int]:
            return item

        return app

    raw = {"content": b'{"a": 1}'}
    problem(TestClient(make(True)).post("/items", **raw), 415)  # type: ignore[arg-type]
    lenient = TestClient(make(False))
    assert lenient.post("/items", **raw).json() == {"a": 1}  # type: ignore[arg-type]
    problem(lenient.post("/items", content=b"a=1", headers={"content-type": "text/plain"}), 415)


def test_missing_inputs_are_listed_in_declaration_order() -> None:
    # Regression: an empty body for several body values was one ["body"] error, and form
    # errors listed files after the other fields whatever the order of the parameters.
    app = App()

    @app.post("/pair")
    async def pair(a: Annotated[int, Body()], b: Annotated[int, Body()]) -> int:
        return a + b

    @app.post("/mixed")
    async def mixed(
        file: Annotated[bytes, File()], token: Annotated[str, Form()], fileb: UploadFile
    ) -> str:
        return token

    client = TestClient(app)
    errors = problem(client.post("/pair"), 422)["errors"]
    assert [e["loc"] for e in errors] == [["body", "a"], ["body", "b"]]
    errors = problem(client.post("/mixed"), 422)["errors"]
    assert [e["loc"] for e in errors] == [["body", "file"], ["body", "token"], ["body", "fileb"]]


def test_an_upload_is_saved_under_a_name_the_server_makes(tmp_path: Path) -> None:
    app = App()
    app.csrf_protection = None

    @app.post("/up")
    async def up(file: UploadFile) -> dict[str, str]:
        saved = await file.save(tmp_path / "uploads")
        return {"name": saved.name, "content": saved.read_text()}

    with TestClient(app) as client:
        hostile = client.post("/up", files={"file": ("../../etc/passwd", b"root")}).json()
        pdf = client.post("/up", files={"file": ("Report.PDF", b"%PDF")}).json()
        odd = client.post("/up", files={"file": ("x.tar.gz;rm -rf", b"z")}).json()
    assert re.fullmatch(r"[0-9a-f]{32}", hostile["name"]) and hostile["content"] == "root"
    assert re.fullmatch(r"[0-9a-f]{32}\.pdf", pdf["name"])
    assert re.fullmatch(r"[0-9a-f]{32}", odd["name"])
    assert sorted(p.parent for p in (tmp_path / "uploads").iterdir()) == [tmp_path / "uploads"] * 3
