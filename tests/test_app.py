from __future__ import annotations

import contextlib
import warnings
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import pytest

from keel import App, HTTPError, Request, RequestValidationError
from keel._types import ASGIApp, Receive, Scope, Send
from keel.middleware import Middleware
from keel.responses import JSONResponse, PlainTextResponse
from keel.testing import TestClient
from tests.problems import problem


def test_lifespan_startup_shutdown_and_state() -> None:
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[None]:
        events.append("lifespan-start")
        app.state.db = "connected"
        yield
        events.append("lifespan-stop")

    app = App(lifespan=lifespan)

    @app.on_startup
    async def start() -> None:
        events.append("startup")

    @app.on_shutdown
    def stop() -> None:
        events.append("shutdown")

    @app.get("/")
    async def index(request: Request) -> dict[str, str]:
        return {"db": request.app.state.db}

    with TestClient(app) as client:
        assert events == ["lifespan-start", "startup"]
        assert client.get("/").json() == {"db": "connected"}
    assert events == ["lifespan-start", "startup", "shutdown", "lifespan-stop"]


def test_startup_failure_is_reported() -> None:
    app = App()

    @app.on_startup
    async def boom() -> None:
        raise RuntimeError("no database")

    with pytest.raises(RuntimeError, match="no database"), TestClient(app):
        pass


def test_missing_state_attribute_has_a_clear_error() -> None:
    app = App()
    with pytest.raises(AttributeError, match="set it first"):
        _ = app.state.nothing


class HeaderMiddleware:
    def __init__(self, app: ASGIApp, name: str, value: str) -> None:
        self.app = app
        self.name = name.encode()
        self.value = value.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def wrapped(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message["headers"], (self.name, self.value)]
            await send(message)

        await self.app(scope, receive, wrapped)


def test_middleware_order() -> None:
    app = App(middleware=[Middleware(HeaderMiddleware, name="x-outer", value="1")])
    app.add_middleware(HeaderMiddleware, name="x-added", value="2")

    @app.get("/")
    async def index() -> dict[str, bool]:
        return {"ok": True}

    r = TestClient(app).get("/")
    assert r.headers["x-outer"] == "1"
    assert r.headers["x-added"] == "2"


def test_errors_inside_middleware_become_500_problems() -> None:
    class Broken:
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                raise RuntimeError("middleware bug")
            await self.app(scope, receive, send)

    app = App(middleware=[Broken])
    r = TestClient(app, raise_server_exceptions=False).get("/")
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    assert "middleware bug" not in r.text


def test_custom_exception_handlers() -> None:
    app = App()

    class OutOfStock(Exception):
        pass

    @app.exception_handler(OutOfStock)
    async def out_of_stock(request: Request, exc: OutOfStock) -> JSONResponse:
        return JSONResponse({"error": "out of stock"}, status=409)

    @app.exception_handler(404)
    def not_found(request: Request, exc: HTTPError) -> PlainTextResponse:
        return PlainTextResponse("nothing here", status=404)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"count": len(exc.errors)}, status=400)

    @app.get("/buy")
    async def buy(n: int) -> None:
        raise OutOfStock()

    client = TestClient(app)
    assert client.get("/buy?n=1").json() == {"error": "out of stock"}
    assert client.get("/missing").text == "nothing here"
    r = client.get("/buy?n=x")
    assert (r.status_code, r.json()) == (400, {"count": 1})


def test_http_error_headers_and_extras() -> None:
    app = App()

    @app.get("/")
    async def index() -> None:
        raise HTTPError(
            401,
            "log in first",
            headers={"WWW-Authenticate": "Bearer"},
            type="https://example.com/probs/auth",
            extra={"hint": "token"},
        )

    r = TestClient(app).get("/")
    problem(r, 401)
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json() == {
        "type": "https://example.com/probs/auth",
        "title": "Unauthorized",
        "status": 401,
        "detail": "log in first",
        "hint": "token",
    }


def test_unhandled_error_hides_internals() -> None:
    app = App()

    @app.get("/")
    async def index() -> None:
        raise ValueError("database password is hunter2")

    r = TestClient(app, raise_server_exceptions=False).get("/")
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    assert "hunter2" not in r.text
    assert r.json()["title"] == "Internal Server Error"


def test_debug_mode_shows_traceback_page_and_problem() -> None:
    app = App(debug=True)

    @app.get("/")
    async def index() -> None:
        raise ValueError("<b>bad</b> value")

    client = TestClient(app, raise_server_exceptions=False)
    html = client.get("/", headers={"accept": "text/html"})
    assert html.status_code == 500
    assert html.headers["content-type"].startswith("text/html")
    assert "ValueError" in html.text and "&lt;b&gt;bad&lt;/b&gt;" in html.text
    api = client.get("/", headers={"accept": "application/json"})
    assert api.headers["content-type"] == "application/problem+json"
    assert "ValueError" in api.json()["detail"]
    assert any("raise ValueError" in line for line in api.json()["traceback"])


def test_raise_server_exceptions() -> None:
    app = App()

    @app.get("/")
    async def index() -> None:
        raise KeyError("boom")

    with pytest.raises(KeyError):
        TestClient(app).get("/")


def test_mount_asgi_sub_app() -> None:
    sub = App()

    @sub.get("/hello")
    async def hello(request: Request) -> dict[str, str]:
        return {"root": request.scope["root_path"], "url": request.app.url_path_for("hello")}

    app = App()
    app.mount("/sub", sub)
    r = TestClient(app).get("/sub/hello")
    assert r.json() == {"root": "/sub", "url": "/hello"}
    problem(TestClient(app).get("/sub/nothing"), 404)


def test_mount_wsgi_app() -> None:
    def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = f"{environ['SCRIPT_NAME']}|{environ['PATH_INFO']}".encode()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]

    app = App()
    app.mount("/legacy", wsgi_app)
    r = TestClient(app).get("/legacy/page")
    assert r.status_code == 200
    assert r.text == "/legacy|/page"


def test_http_error_validates_status() -> None:
    with pytest.raises(ValueError, match="4xx or 5xx"):
        HTTPError(200)
    with pytest.raises(TypeError, match="needs a status"):
        HTTPError()


def test_openapi_metadata_options() -> None:
    app = App(
        title="Shop",
        version="2.0",
        summary="A shop",
        terms_of_service="https://example.com/terms",
        contact={"name": "Ops", "email": "ops@example.com"},
        license_info={"name": "MIT", "identifier": "MIT"},
        openapi_tags=[{"name": "items", "description": "Things for sale"}],
    )
    doc = app.openapi()
    assert doc["info"] == {
        "title": "Shop",
        "version": "2.0",
        "summary": "A shop",
        "termsOfService": "https://example.com/terms",
        "contact": {"name": "Ops", "email": "ops@example.com"},
        "license": {"name": "MIT", "identifier": "MIT"},
    }
    assert doc["tags"] == [{"name": "items", "description": "Things for sale"}]


def test_on_event_is_deprecated_but_works() -> None:
    app = App()
    events: list[str] = []
    with pytest.warns(DeprecationWarning, match="lifespan"):

        @app.on_event("startup")
        async def start() -> None:
            events.append("start")

    with pytest.warns(DeprecationWarning):

        @app.on_event("shutdown")
        def stop() -> None:
            events.append("stop")

    with pytest.raises(ValueError), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        app.on_event("boot")
    with TestClient(app):
        assert events == ["start"]
    assert events == ["start", "stop"]


def test_default_response_class() -> None:
    from keel.responses import HTMLResponse

    app = App(default_response_class=HTMLResponse)

    @app.get("/page")
    async def page() -> str:
        return "<h1>hi</h1>"

    @app.get("/json", response_class=JSONResponse)
    async def as_json() -> dict[str, int]:
        return {"a": 1}

    client = TestClient(app)
    assert client.get("/page").headers["content-type"] == "text/html; charset=utf-8"
    assert client.get("/json").json() == {"a": 1}


def test_root_path_is_every_requests_root_path() -> None:
    app = App(root_path="/api/v1/")

    @app.get("/items", name="items")
    async def items(request: Request) -> dict[str, str]:
        return {"root": request.scope["root_path"], "url": str(request.url_for("items"))}

    with TestClient(app) as client:
        # a proxy that strips the prefix forwards /items; one that does not, /api/v1/items
        for path in ("/items", "/api/v1/items"):
            r = client.get(path)
            assert r.json() == {"root": "/api/v1", "url": "http://testserver/api/v1/items"}
        assert client.get("/openapi.json").json()["servers"] == [{"url": "/api/v1"}]
