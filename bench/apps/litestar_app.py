"""Litestar, as its docs write it: decorated handlers, msgspec Structs (Litestar's native model
type, validated and serialized by msgspec without a plugin), Provide for dependency injection
(a yield dependency for the database session) and the Jinja template engine."""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from operator import attrgetter
from typing import Annotated, Literal

import msgspec
from litestar import Litestar, MediaType, get, post
from litestar.datastructures import State
from litestar.di import Provide
from litestar.handlers import HTTPRouteHandler
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template.config import TemplateConfig
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bench.apps.orm import Fortune, Note, World, make_engine, make_sessionmaker
from bench.apps.shared import (
    ADDITIONAL_FORTUNE,
    HELLO,
    ROUTE_COUNT,
    ROUTE_PREFIX,
    TEMPLATES_DIR,
    WORLD_ROWS,
)

Positive = Annotated[float, msgspec.Meta(gt=0)]


class Dimensions(msgspec.Struct):
    width: Positive
    height: Positive
    depth: Positive
    unit: Literal["cm", "in"] = "cm"


class Item(msgspec.Struct, kw_only=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    description: Annotated[str, msgspec.Meta(max_length=1000)] | None = None
    price: Positive
    tax: Annotated[float, msgspec.Meta(ge=0)] | None = None
    quantity: Annotated[int, msgspec.Meta(ge=0)]
    in_stock: bool = True
    sku: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}-[0-9]{4}$")]
    rating: Annotated[int, msgspec.Meta(ge=1, le=5)]
    tags: Annotated[list[str], msgspec.Meta(max_length=20)] = msgspec.field(default_factory=list)
    dimensions: Dimensions


class ItemOut(Item, kw_only=True):
    id: int


class NoteIn(msgspec.Struct):
    author: Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]


class NoteOut(msgspec.Struct):
    id: int
    author: str
    text: str


item_ids = itertools.count(1)
open_resources = 0


async def provide_session(state: State) -> AsyncIterator[AsyncSession]:
    async with state.sessionmaker() as session:
        yield session


async def dep_a() -> int:
    return 1


async def dep_b(a: int) -> int:
    return a + 1


async def dep_c(b: int) -> AsyncIterator[int]:
    global open_resources
    open_resources += 1
    try:
        yield b + 1
    finally:
        open_resources -= 1


@get("/plaintext", media_type=MediaType.TEXT)
async def plaintext() -> str:
    return HELLO


@get("/json")
async def json_() -> dict[str, str]:
    return {"message": HELLO}


@get("/users/{id:int}")
async def user(id: int, verbose: bool = False) -> dict[str, object]:
    return {"id": id, "verbose": verbose}


@post("/items")
async def create_item(data: Item) -> ItemOut:
    return ItemOut(id=next(item_ids), **msgspec.structs.asdict(data))


@get("/db")
async def db(db_session: AsyncSession) -> dict[str, int]:
    world = await db_session.get(World, random.randint(1, WORLD_ROWS))
    assert world is not None
    return {"id": world.id, "randomNumber": world.randomnumber}


@get("/fortunes")
async def fortunes(db_session: AsyncSession) -> Template:
    rows = list(await db_session.scalars(select(Fortune)))
    rows.append(Fortune(id=0, message=ADDITIONAL_FORTUNE))
    rows.sort(key=attrgetter("message"))
    return Template(template_name="fortunes.html", context={"fortunes": rows})


@get(
    "/deps",
    dependencies={"a": Provide(dep_a), "b": Provide(dep_b), "c": Provide(dep_c)},
)
async def deps(c: int) -> dict[str, int]:
    return {"value": c}


@post("/notes")
async def create_note(data: NoteIn, db_session: AsyncSession) -> NoteOut:
    row = Note(author=data.author, text=data.text)
    db_session.add(row)
    await db_session.commit()
    return NoteOut(id=row.id, author=row.author, text=row.text)


def item_route(index: int) -> HTTPRouteHandler:
    async def item(id: int) -> dict[str, int]:
        return {"route": index, "id": id}

    item.__name__ = item.__qualname__ = f"item{index}"
    handler: Callable[[int], Awaitable[dict[str, int]]] = item
    return get(f"{ROUTE_PREFIX}{index}/{{id:int}}", name=f"item{index}")(handler)


@asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    engine = make_engine()
    app.state.sessionmaker = make_sessionmaker(engine)
    yield
    await engine.dispose()


app = Litestar(
    route_handlers=[
        plaintext,
        json_,
        user,
        create_item,
        db,
        fortunes,
        deps,
        create_note,
        *(item_route(index) for index in range(ROUTE_COUNT)),
    ],
    dependencies={"db_session": Provide(provide_session)},
    template_config=TemplateConfig(directory=TEMPLATES_DIR, engine=JinjaTemplateEngine),
    lifespan=[lifespan],
)
