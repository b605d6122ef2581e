from __future__ import annotations

from keel import App, HTTPException, Request, RequestValidationError
from keel.exception_handlers import http_exception_handler, request_validation_exception_handler
from keel.fastapi import FastAPI
from keel.responses import Response
from keel.testing import TestClient
from tests.problems import problem


def _app(app: App, seen: list[str]) -> App:
    @app.exception_handler(HTTPException)
    async def on_http(request: Request, exc: HTTPException) -> Response:
        seen.append(f"http {exc.status}")
        return await http_exception_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> Response:
        seen.append("invalid")
        return await request_validation_exception_handler(request, exc)

    @app.get("/items/{n}")
    async def item(n: int) -> int:
        raise HTTPException(418, "teapot", headers={"x-why": "tea"})

    return app


def test_default_handlers_answer_in_the_apps_format() -> None:
    seen: list[str] = []
    client = TestClient(_app(App(), seen))
    r = client.get("/items/1")
    assert problem(r, 418)["detail"] == "teapot"
    assert r.headers["x-why"] == "tea"
    assert problem(client.get("/items/x"), 422)["errors"][0]["loc"] == ["path", "n"]
    assert seen == ["http 418", "invalid"]

    seen.clear()
    client = TestClient(_app(FastAPI(), seen))
    assert client.get("/items/1").json() == {"detail": "teapot"}
    assert client.get("/items/x").json()["detail"][0]["type"] == "int_parsing"
    assert seen == ["http 418", "invalid"]
