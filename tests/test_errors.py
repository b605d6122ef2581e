"""keel.errors and the app's error lookup: handlers compose, every error goes through them."""

from __future__ import annotations

import pytest

from keel import App, HTTPError, Request, RequestValidationError
from keel.errors import ResponseValidationError
from keel.responses import JSONResponse, PlainTextResponse
from keel.testing import TestClient
from tests.problems import problem


class Missing(Exception):
    """A domain error that handlers turn into an HTTPError."""


def test_http_error_raised_by_a_handler_reaches_the_apps_http_error_handler() -> None:
    app = App()

    @app.exception_handler(Missing)
    async def missing(request: Request, exc: Missing) -> JSONResponse:
        raise HTTPError(404, "No such thing")

    @app.exception_handler(HTTPError)
    async def own_format(request: Request, exc: HTTPError) -> JSONResponse:
        return JSONResponse({"errors": {"body": [exc.detail]}}, status=exc.status)

    @app.get("/thing")
    async def thing() -> None:
        raise Missing()

    r = TestClient(app).get("/thing")
    assert (r.status_code, r.json()) == (404, {"errors": {"body": ["No such thing"]}})


def test_a_sync_handler_may_raise_too_and_status_handlers_see_it() -> None:
    app = App()

    @app.exception_handler(Missing)
    def missing(request: Request, exc: Missing) -> JSONResponse:
        raise HTTPError(410, "Gone for good")

    @app.exception_handler(410)
    def gone(request: Request, exc: HTTPError) -> PlainTextResponse:
        return PlainTextResponse(f"gone: {exc.detail}", status=410)

    @app.get("/thing")
    async def thing() -> None:
        raise Missing()

    r = TestClient(app).get("/thing")
    assert (r.status_code, r.text) == (410, "gone: Gone for good")


def test_a_handler_raising_what_it_handles_falls_back_to_the_default_renderer() -> None:
    app = App()
    calls: list[int] = []

    @app.exception_handler(HTTPError)
    async def again(request: Request, exc: HTTPError) -> JSONResponse:
        calls.append(exc.status)
        raise HTTPError(409, "still conflicting")

    @app.get("/")
    async def index() -> None:
        raise HTTPError(400, "bad")

    body = problem(TestClient(app).get("/"), 409)
    assert body["detail"] == "still conflicting"
    assert calls == [400]


def test_handlers_raising_into_each_other_stop_after_one_visit_each() -> None:
    app = App()

    class A(Exception):
        pass

    class B(Exception):
        pass

    @app.exception_handler(A)
    async def on_a(request: Request, exc: A) -> JSONResponse:
        raise B()

    @app.exception_handler(B)
    async def on_b(request: Request, exc: B) -> JSONResponse:
        raise A()

    @app.get("/")
    async def index() -> None:
        raise A()

    r = TestClient(app, raise_server_exceptions=False).get("/")
    problem(r, 500)


def test_unhandled_errors_get_their_500_through_the_http_error_handler() -> None:
    app = App()

    @app.exception_handler(HTTPError)
    async def own_format(request: Request, exc: HTTPError) -> JSONResponse:
        return JSONResponse({"message": exc.detail}, status=exc.status)

    @app.get("/")
    async def index() -> None:
        raise ValueError("secret internals")

    r = TestClient(app, raise_server_exceptions=False).get("/")
    assert r.status_code == 500
    assert r.json() == {"message": "The server failed to handle this request."}


JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    ("method", "path", "status", "body", "headers"),
    [
        ("GET", "/nowhere", 404, b"", {}),
        ("DELETE", "/items", 405, b"", {}),
        ("POST", "/items", 400, b"{", JSON),
        ("POST", "/items", 413, b"[" + b"1," * 100 + b"1]", JSON),
        ("POST", "/items", 415, b"{}", {"content-type": "text/x"}),
        ("GET", "/items?limit=x", 422, b"", {}),
    ],
)
def test_one_http_error_handler_formats_every_core_error(
    method: str, path: str, status: int, body: bytes, headers: dict[str, str]
) -> None:
    app = App(max_body_size=100)

    @app.exception_handler(HTTPError)
    async def own_format(request: Request, exc: HTTPError) -> JSONResponse:
        return JSONResponse({"status": exc.status}, status=exc.status, headers=exc.headers)

    @app.get("/items")
    async def items(limit: int = 10) -> int:
        return limit

    @app.post("/items")
    async def add(item: dict[str, int]) -> dict[str, int]:
        return item

    r = TestClient(app).request(method, path, content=body, headers=headers)
    assert (r.status_code, r.json()) == (status, {"status": status})
    if status == 405:
        assert r.headers["allow"] == "GET, HEAD, OPTIONS, POST"


def test_status_handlers_have_their_own_registry() -> None:
    app = App()

    def not_found(request: Request, exc: HTTPError) -> PlainTextResponse:
        return PlainTextResponse("nothing", status=404)

    app.add_exception_handler(404, not_found)
    assert app.status_handlers == {404: not_found}
    assert app.exception_handlers == {}
    assert all(isinstance(k, type) for k in app.exception_handlers)
    assert TestClient(app).get("/nowhere").text == "nothing"


def test_a_status_handler_comes_before_a_class_handler() -> None:
    app = App()

    @app.exception_handler(HTTPError)
    async def generic(request: Request, exc: HTTPError) -> PlainTextResponse:
        return PlainTextResponse("generic", status=exc.status)

    @app.exception_handler(404)
    async def missing(request: Request, exc: HTTPError) -> PlainTextResponse:
        return PlainTextResponse("missing", status=404)

    client = TestClient(app)
    assert client.get("/nowhere").text == "missing"
    assert client.delete("/openapi.json").text == "generic"


def test_exception_handler_rejects_what_is_neither_a_status_nor_an_exception() -> None:
    app = App()
    with pytest.raises(TypeError, match="exception class or an HTTP status"):
        # A string is not a status: the deliberate misuse under test.
        app.add_exception_handler("404", lambda r, e: PlainTextResponse(""))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="4xx or 5xx"):
        app.add_exception_handler(200, lambda r, e: PlainTextResponse(""))


def test_validation_detail_names_every_invalid_field() -> None:
    errors = [
        {"loc": ["query", "limit"], "msg": "Input should be a valid integer", "type": "int"},
        {"loc": ["query", "offset"], "msg": "Field required", "type": "missing"},
    ]
    exc = RequestValidationError(errors)
    assert exc.detail == (
        "2 fields are invalid: query.limit: Input should be a valid integer; "
        "query.offset: Field required"
    )


def test_validation_detail_is_bounded() -> None:
    errors = [
        {"loc": ["body", f"f{i}"], "msg": "Field required", "type": "missing"} for i in range(9)
    ]
    detail = RequestValidationError(errors).detail
    assert detail.startswith("9 fields are invalid: body.f0: Field required; body.f1:")
    assert "body.f2: Field required" in detail
    assert "body.f3" not in detail
    assert detail.endswith("and 6 more")


def test_validation_detail_of_one_field_and_of_none() -> None:
    one = RequestValidationError([{"loc": ["path", "id"], "msg": "bad", "type": "x"}])
    assert one.detail == "1 field is invalid: path.id: bad"
    assert RequestValidationError([]).detail == "0 fields are invalid"


def test_request_validation_over_http_names_both_fields() -> None:
    app = App()

    @app.get("/")
    async def index(a: int, b: int) -> int:
        return a + b

    body = problem(TestClient(app).get("/?a=x&b=y"), 422)
    assert "query.a" in body["detail"] and "query.b" in body["detail"]


def test_response_validation_error_lives_in_errors() -> None:
    assert ResponseValidationError.__module__ == "keel.errors"
    app = App()

    @app.get("/")
    async def index() -> int:
        return "not a number"  # type: ignore[return-value]

    with pytest.raises(ResponseValidationError):
        TestClient(app).get("/")


def test_a_handler_with_a_bug_gives_a_logged_500(caplog: pytest.LogCaptureFixture) -> None:
    app = App()

    @app.exception_handler(Missing)
    async def broken(request: Request, exc: Missing) -> JSONResponse:
        responses: dict[str, JSONResponse] = {}
        return responses["nope"]  # the bug: a KeyError

    @app.exception_handler(LookupError)
    async def not_a_response(request: Request, exc: LookupError) -> JSONResponse:
        raise KeyError("still broken")

    @app.get("/")
    async def index() -> None:
        raise Missing()

    @app.get("/value")
    async def value() -> None:
        raise ValueError()

    @app.exception_handler(ValueError)
    async def returns_a_dict(request: Request, exc: ValueError) -> JSONResponse:
        return {"not": "a response"}  # type: ignore[return-value]

    client = TestClient(app, raise_server_exceptions=False)
    problem(client.get("/"), 500)
    assert "Exception handler" in caplog.text and "still broken" in caplog.text
    caplog.clear()
    problem(client.get("/value"), 500)
    assert "not a Response" in caplog.text


def test_a_handler_for_500_answers_unhandled_errors() -> None:
    app = App()

    @app.exception_handler(500)
    def server_error(request: Request, exc: HTTPError) -> PlainTextResponse:
        return PlainTextResponse("sorry", status=500)

    @app.get("/")
    async def index() -> None:
        raise RuntimeError("bug")

    r = TestClient(app, raise_server_exceptions=False).get("/")
    assert (r.status_code, r.text) == (500, "sorry")
    with pytest.raises(RuntimeError):  # still re-raised to the server (and to tests)
        TestClient(app).get("/")
