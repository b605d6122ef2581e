"""FastAPI, as its tutorial writes it: typed parameters, pydantic models, Depends (with a yield
dependency for the database session, as in the "SQL Databases" tutorial), Jinja2Templates."""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from operator import attrgetter
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel
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
    Item,
    ItemOut,
    NoteIn,
    NoteOut,
)


class Message(BaseModel):
    message: str


class UserOut(BaseModel):
    id: int
    verbose: bool


class WorldOut(BaseModel):
    id: int
    randomNumber: int  # the TechEmpower field name


class DepsOut(BaseModel):
    value: int


class ItemRouteOut(BaseModel):
    route: int
    id: int


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    engine = make_engine()
    app.state.sessionmaker = make_sessionmaker(engine)
    yield
    await engine.dispose()


app = FastAPI(lifespan=lifespan)
templates = Jinja2Templates(directory=TEMPLATES_DIR)
item_ids = itertools.count(1)
open_resources = 0


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def dep_a() -> int:
    return 1


async def dep_b(a: Annotated[int, Depends(dep_a)]) -> int:
    return a + 1


async def dep_c(b: Annotated[int, Depends(dep_b)]) -> AsyncIterator[int]:
    global open_resources
    open_resources += 1
    try:
        yield b + 1
    finally:
        open_resources -= 1


@app.get("/plaintext", response_class=PlainTextResponse)
async def plaintext() -> str:
    return HELLO


@app.get("/json")
async def json_() -> Message:
    return Message(message=HELLO)


@app.get("/users/{id}")
async def user(id: int, verbose: bool = False) -> UserOut:
    return UserOut(id=id, verbose=verbose)


@app.post("/items", status_code=201)
async def create_item(item: Item) -> ItemOut:
    return ItemOut(id=next(item_ids), **item.model_dump())


@app.get("/db")
async def db(session: SessionDep) -> WorldOut:
    world = await session.get(World, random.randint(1, WORLD_ROWS))
    assert world is not None
    return WorldOut(id=world.id, randomNumber=world.randomnumber)


@app.get("/fortunes", response_class=HTMLResponse)
async def fortunes(request: Request, session: SessionDep) -> HTMLResponse:
    rows = list(await session.scalars(select(Fortune)))
    rows.append(Fortune(id=0, message=ADDITIONAL_FORTUNE))
    rows.sort(key=attrgetter("message"))
    return templates.TemplateResponse(request, "fortunes.html", {"fortunes": rows})


@app.get("/deps")
async def deps(c: Annotated[int, Depends(dep_c)]) -> DepsOut:
    return DepsOut(value=c)


@app.post("/notes", status_code=201)
async def create_note(note: NoteIn, session: SessionDep) -> NoteOut:
    row = Note(author=note.author, text=note.text)
    session.add(row)
    await session.commit()
    return NoteOut(id=row.id, author=row.author, text=row.text)


def item_route(index: int) -> Callable[[int], Awaitable[ItemRouteOut]]:
    async def item(id: int) -> ItemRouteOut:
        return ItemRouteOut(route=index, id=id)

    item.__name__ = item.__qualname__ = f"item{index}"
    return item


for index in range(ROUTE_COUNT):
    app.get(f"{ROUTE_PREFIX}{index}/{{id}}")(item_route(index))
