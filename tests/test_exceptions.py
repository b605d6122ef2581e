from __future__ import annotations

import pickle

import pytest
from pydantic import BaseModel

from keel import App, HTTPException, RequestValidationError
from keel.exceptions import (
    FastAPIDeprecationWarning,
    FastAPIError,
    KeelError,
    WebSocketException,
)
from keel.responses import JSONResponse, PlainTextResponse
from keel.testing import TestClient


def test_names() -> None:
    assert FastAPIError is KeelError
    assert issubclass(KeelError, RuntimeError)
    assert issubclass(FastAPIDeprecationWarning, UserWarning)
    exc = WebSocketException(1008, "go away")
    assert (exc.code, exc.reason) == (1008, "go away")
    assert pickle.loads(pickle.dumps(exc)).reason == "go away"
    with pytest.raises(ValueError, match="close code"):
        WebSocketException(200)


def test_validation_handler_returning_plain_text_and_using_errors_call() -> None:
    # Regression: exc.errors() (FastAPI's spelling) raised, so the handler gave a 500.
    app = App()

    @app.exception_handler(RequestValidationError)
    async def handler(request: object, exc: RequestValidationError) -> PlainTextResponse:
        locs = [e["loc"] for e in exc.errors()]
        return PlainTextResponse(f"{locs}\n{exc}", status_code=400)

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> int:
        return item_id

    r = TestClient(app).get("/items/x")
    assert r.status_code == 400
    assert r.text.startswith("[('path', 'item_id')]\n1 validation error:")
    assert "int_parsing" in r.text


class Item(BaseModel):
    title: str
    size: int


def test_validation_error_carries_the_parsed_body_for_handlers() -> None:
    app = App()

    @app.exception_handler(RequestValidationError)
    async def handler(request: object, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"errors": len(exc.errors), "body": exc.body}, 422)

    @app.post("/items")
    async def create(item: Item) -> Item:
        return item

    r = TestClient(app).post("/items", json={"title": "t", "size": "XL"})
    assert r.json() == {"errors": 1, "body": {"title": "t", "size": "XL"}}
    with pytest.raises(TypeError):
        HTTPException()
