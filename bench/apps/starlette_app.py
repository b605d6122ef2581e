"""Starlette, as its docs show it: Route table, Request/Response classes, Jinja2Templates.

Starlette has no validation or DI: the body is validated with pydantic by hand and the
dependency chain of `deps` is written as plain calls (the generator one as a context manager).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from operator import attrgetter

from pydantic import ValidationError
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from bench.apps.orm import Fortune, Note, World, make_engine, make_sessionmaker
from bench.apps.shared import (
    ADDITIONAL_FORTUNE,
    HELLO,
    ROUTE_COUNT,
    ROUTE_PREFIX,
    TEMPLATES_DIR,
    WORLD_ROWS,
    Item,
    NoteIn,
    parse_bool,
)

templates = Jinja2Templates(directory=TEMPLATES_DIR)
item_ids = itertools.count(1)
open_resources = 0


async def dep_a() -> int:
    return 1


async def dep_b(a: int) -> int:
    return a + 1


@asynccontextmanager
async def dep_c(b: int) -> AsyncIterator[int]:
    global open_resources
    open_resources += 1
    try:
        yield b + 1
    finally:
        open_resources -= 1


async def plaintext(request: Request) -> Response:
    return PlainTextResponse(HELLO)


async def json_(request: Request) -> Response:
    return JSONResponse({"message": HELLO})


async def user(request: Request) -> Response:
    user_id: int = request.path_params["id"]
    try:
        verbose = parse_bool(request.query_params.get("verbose", "false"))
    except ValueError:
        return JSONResponse({"detail": "verbose must be a boolean"}, status_code=422)
    return JSONResponse({"id": user_id, "verbose": verbose})


async def create_item(request: Request) -> Response:
    if not request.headers.get("content-type", "").startswith("application/json"):
        return JSONResponse({"detail": "expected application/json"}, status_code=415)
    try:
        item = Item.model_validate_json(await request.body())
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False, include_context=False)
        return JSONResponse({"detail": errors}, status_code=422)
    return JSONResponse({"id": next(item_ids), **item.model_dump()}, status_code=201)


async def db(request: Request) -> Response:
    async with request.app.state.sessionmaker() as session:
        world = await session.get(World, random.randint(1, WORLD_ROWS))
    return JSONResponse({"id": world.id, "randomNumber": world.randomnumber})


async def fortunes(request: Request) -> Response:
    async with request.app.state.sessionmaker() as session:
        rows = list(await session.scalars(select(Fortune)))
    rows.append(Fortune(id=0, message=ADDITIONAL_FORTUNE))
    rows.sort(key=attrgetter("message"))
    return templates.TemplateResponse(request, "fortunes.html", {"fortunes": rows})


async def deps(request: Request) -> Response:
    a = await dep_a()
    b = await dep_b(a)
    async with dep_c(b) as c:
        return JSONResponse({"value": c})


async def create_note(request: Request) -> Response:
    if not request.headers.get("content-type", "").startswith("application/json"):
        return JSONResponse({"detail": "expected application/json"}, status_code=415)
    try:
        note = NoteIn.model_validate_json(await request.body())
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False, include_context=False)
        return JSONResponse({"detail": errors}, status_code=422)
    async with request.app.state.sessionmaker() as session:
        row = Note(author=note.author, text=note.text)
        session.add(row)
        await session.commit()
    return JSONResponse({"id": row.id, "author": row.author, "text": row.text}, status_code=201)


def item_route(index: int) -> Callable[[Request], Awaitable[Response]]:
    async def item(request: Request) -> Response:
        return JSONResponse({"route": index, "id": request.path_params["id"]})

    return item


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    engine = make_engine()
    app.state.sessionmaker = make_sessionmaker(engine)
    yield
    await engine.dispose()


app = Starlette(
    routes=[
        Route("/plaintext", plaintext),
        Route("/json", json_),
        Route("/users/{id:int}", user),
        Route("/items", create_item, methods=["POST"]),
        Route("/db", db),
        Route("/fortunes", fortunes),
        Route("/deps", deps),
        Route("/notes", create_note, methods=["POST"]),
        *(
            Route(f"{ROUTE_PREFIX}{index}/{{id:int}}", item_route(index), name=f"item{index}")
            for index in range(ROUTE_COUNT)
        ),
    ],
    lifespan=lifespan,
)
