"""keel, written the way its README shows: typed handlers, pydantic models, Depends (with a yield
dependency for the database session), startup/shutdown hooks and app.state.

The db, fortunes and writes scenarios use keel.db (its Database and per-request Session over
the same SQLAlchemy models and SQLite file as every other async app; the Session commits
after the handler); fortunes renders with keel.templates. The 1000 routes of `routes` are
registered in a loop, each with its own handler.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from operator import attrgetter
from typing import Annotated

from sqlalchemy import select

from bench.apps.orm import Fortune, Note, World
from bench.apps.shared import (
    ADDITIONAL_FORTUNE,
    DB_PATH,
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
from keel import App, Depends, Request
from keel.db import Database, Session
from keel.responses import HTMLResponse, PlainTextResponse
from keel.templates import Templates

app = App()
templates = Templates(TEMPLATES_DIR)
item_ids = itertools.count(1)
open_resources = 0


database = Database(url=f"sqlite+aiosqlite:///{DB_PATH}", check_migrations=False)
database.init_app(app)


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


@app.get("/plaintext")
async def plaintext() -> PlainTextResponse:
    return PlainTextResponse(HELLO)


@app.get("/json")
async def json_() -> dict[str, str]:
    return {"message": HELLO}


@app.get("/users/{id}")
async def user(id: int, verbose: bool = False) -> dict[str, object]:
    return {"id": id, "verbose": verbose}


@app.post("/items", status=201)
async def create_item(item: Item) -> ItemOut:
    return ItemOut(id=next(item_ids), **item.model_dump())


@app.get("/db")
async def db(session: Session) -> dict[str, int]:
    world = await session.get(World, random.randint(1, WORLD_ROWS))
    assert world is not None
    return {"id": world.id, "randomNumber": world.randomnumber}


@app.get("/fortunes")
async def fortunes(request: Request, session: Session) -> HTMLResponse:
    rows = list(await session.scalars(select(Fortune)))
    rows.append(Fortune(id=0, message=ADDITIONAL_FORTUNE))
    rows.sort(key=attrgetter("message"))
    return templates.render(request, "fortunes.html", {"fortunes": rows})


@app.get("/deps")
async def deps(c: Annotated[int, Depends(dep_c)]) -> dict[str, int]:
    return {"value": c}


@app.post("/notes", status=201)
async def create_note(note: NoteIn, session: Session) -> NoteOut:
    row = Note(author=note.author, text=note.text)
    session.add(row)
    await session.flush()  # assigns the id; the Session dependency commits after the handler
    return NoteOut(id=row.id, author=row.author, text=row.text)


def item_route(index: int) -> Callable[[int], Awaitable[dict[str, int]]]:
    async def item(id: int) -> dict[str, int]:
        return {"route": index, "id": id}

    return item


for index in range(ROUTE_COUNT):
    app.get(f"{ROUTE_PREFIX}{index}/{{id}}", name=f"item{index}")(item_route(index))
