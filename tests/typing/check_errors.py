"""Read by mypy only: exception handlers keep their types; ``responses=`` takes any Mapping."""

from __future__ import annotations

from types import MappingProxyType
from typing import assert_type

from keel import App, HTTPError, Request, RequestValidationError, Router
from keel.error_formats import ErrorFormat, FastAPIErrors
from keel.responses import JSONResponse, PlainTextResponse, Response

app = App(error_format=FastAPIErrors())


class OutOfStock(Exception):
    def __init__(self, sku: str) -> None:
        self.sku = sku


@app.exception_handler(OutOfStock)
async def out_of_stock(request: Request, exc: OutOfStock) -> JSONResponse:
    return JSONResponse({"sku": exc.sku}, status=409)


@app.exception_handler(404)
def not_found(request: Request, exc: HTTPError) -> PlainTextResponse:
    return PlainTextResponse(str(exc.detail), status=404)


@app.exception_handler(RequestValidationError)
async def invalid(request: Request, exc: RequestValidationError) -> Response:
    raise HTTPError(400, f"{len(exc.errors)} errors")


async def handlers_keep_their_types(request: Request) -> None:
    assert_type(await out_of_stock(request, OutOfStock("x")), JSONResponse)
    assert_type(not_found(request, HTTPError(404)), PlainTextResponse)


class Errors(ErrorFormat):
    def render(self, request: Request, error: HTTPError) -> Response:
        return JSONResponse({"message": error.detail}, error.status, error.headers)


App(error_format=Errors())

by_int = {404: {"description": "Not found"}}
by_str = {"4XX": {"description": "Client error"}}
frozen = MappingProxyType({409: {"description": "Conflict"}})
router = Router(prefix="/r", responses=by_int)


@app.get("/a", responses=by_int)
async def a() -> None: ...


@app.get("/b", responses=by_str)
async def b() -> None: ...


@router.get("/c", responses=frozen)
async def c() -> None: ...
