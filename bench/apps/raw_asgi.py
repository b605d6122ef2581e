"""The ceiling: a hand-written ASGI callable doing the same work as the framework apps.

Same validation (pydantic for the body, int/bool parsing for params), same data access
(SQLAlchemy async ORM + aiosqlite) and same template engine (Jinja2, autoescaped) as the
others, so the gap to it is what a framework's routing, parameter handling and response
machinery costs.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from operator import attrgetter
from typing import Any
from urllib.parse import parse_qsl

import jinja2
import pydantic_core
from pydantic import ValidationError
from sqlalchemy import select

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

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

TEXT = b"text/plain; charset=utf-8"
JSON = b"application/json"
HTML = b"text/html; charset=utf-8"
MAX_BODY = 1024 * 1024

state: dict[str, Any] = {"open_resources": 0}
item_ids = itertools.count(1)
templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=True, auto_reload=False
)


class HTTPError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


async def respond(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type), (b"content-length", b"%d" % len(body))],
        }
    )
    await send({"type": "http.response.body", "body": body})


def dump(data: object) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


async def read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise HTTPError(400, "client disconnected")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise HTTPError(413, "body too large")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def header(scope: Scope, name: bytes) -> bytes:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return b""


def is_int(text: str) -> bool:
    return text.isascii() and text.lstrip("-").isdigit() and len(text) <= 19


# --- the dependency chain of the `deps` scenario, written as plain calls -------------------


async def dep_a() -> int:
    return 1


async def dep_b(a: int) -> int:
    return a + 1


@asynccontextmanager
async def dep_c(b: int) -> AsyncIterator[int]:
    state["open_resources"] += 1
    try:
        yield b + 1
    finally:
        state["open_resources"] -= 1


# --- handlers ----------------------------------------------------------------------------


async def plaintext(scope: Scope, receive: Receive, send: Send) -> None:
    await respond(send, 200, HELLO.encode(), TEXT)


async def json_(scope: Scope, receive: Receive, send: Send) -> None:
    await respond(send, 200, dump({"message": HELLO}), JSON)


async def user(scope: Scope, receive: Receive, send: Send, raw_id: str) -> None:
    if not is_int(raw_id):
        raise HTTPError(422, "id must be an integer")
    verbose = False
    for key, value in parse_qsl(scope["query_string"].decode("latin-1")):
        if key == "verbose":
            try:
                verbose = parse_bool(value)
            except ValueError:
                raise HTTPError(422, "verbose must be a boolean") from None
    await respond(send, 200, dump({"id": int(raw_id), "verbose": verbose}), JSON)


async def create_item(scope: Scope, receive: Receive, send: Send) -> None:
    if not header(scope, b"content-type").startswith(b"application/json"):
        raise HTTPError(415, "expected application/json")
    body = await read_body(receive)
    try:
        item = Item.model_validate_json(body)
    except ValidationError as exc:
        await respond(send, 422, exc.json(include_input=False, include_url=False).encode(), JSON)
        return
    out = {"id": next(item_ids), **item.model_dump()}
    await respond(send, 201, pydantic_core.to_json(out), JSON)


async def db(scope: Scope, receive: Receive, send: Send) -> None:
    async with state["sessionmaker"]() as session:
        world = await session.get(World, random.randint(1, WORLD_ROWS))
    await respond(send, 200, dump({"id": world.id, "randomNumber": world.randomnumber}), JSON)


async def fortunes(scope: Scope, receive: Receive, send: Send) -> None:
    async with state["sessionmaker"]() as session:
        rows = list(await session.scalars(select(Fortune)))
    rows.append(Fortune(id=0, message=ADDITIONAL_FORTUNE))
    rows.sort(key=attrgetter("message"))
    html = templates.get_template("fortunes.html").render(fortunes=rows)
    await respond(send, 200, html.encode(), HTML)


async def create_note(scope: Scope, receive: Receive, send: Send) -> None:
    if not header(scope, b"content-type").startswith(b"application/json"):
        raise HTTPError(415, "expected application/json")
    try:
        note = NoteIn.model_validate_json(await read_body(receive))
    except ValidationError as exc:
        await respond(send, 422, exc.json(include_input=False, include_url=False).encode(), JSON)
        return
    async with state["sessionmaker"]() as session:
        row = Note(author=note.author, text=note.text)
        session.add(row)
        await session.commit()
    out = {"id": row.id, "author": row.author, "text": row.text}
    await respond(send, 201, dump(out), JSON)


async def item(scope: Scope, receive: Receive, send: Send, rest: str) -> None:
    """`/api/v1/items{i}/{id}`, parsed by hand: the ceiling does no per-route matching."""
    index, _, raw_id = rest.partition("/")
    if not (index.isascii() and index.isdigit() and int(index) < ROUTE_COUNT) or "/" in raw_id:
        raise HTTPError(404, "not found")
    if not is_int(raw_id):
        raise HTTPError(422, "id must be an integer")
    await respond(send, 200, dump({"route": int(index), "id": int(raw_id)}), JSON)


async def deps(scope: Scope, receive: Receive, send: Send) -> None:
    a = await dep_a()
    b = await dep_b(a)
    async with dep_c(b) as c:
        await respond(send, 200, dump({"value": c}), JSON)


Handler = Callable[[Scope, Receive, Send], Awaitable[None]]
ROUTES: dict[tuple[str, str], Handler] = {
    ("GET", "/plaintext"): plaintext,
    ("GET", "/json"): json_,
    ("POST", "/items"): create_item,
    ("GET", "/db"): db,
    ("GET", "/fortunes"): fortunes,
    ("GET", "/deps"): deps,
    ("POST", "/notes"): create_note,
}
PATHS = {path for _, path in ROUTES}


async def lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            engine = make_engine()
            state["engine"] = engine
            state["sessionmaker"] = make_sessionmaker(engine)
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await state["engine"].dispose()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    method: str = scope["method"]
    path: str = scope["path"]
    try:
        handler = ROUTES.get((method, path))
        if handler is not None:
            await handler(scope, receive, send)
        elif path.startswith("/users/") and path.count("/") == 2:
            if method != "GET":
                raise HTTPError(405, "method not allowed")
            await user(scope, receive, send, path[7:])
        elif path.startswith(ROUTE_PREFIX):
            if method != "GET":
                raise HTTPError(405, "method not allowed")
            await item(scope, receive, send, path[len(ROUTE_PREFIX) :])
        elif path in PATHS:
            raise HTTPError(405, "method not allowed")
        else:
            raise HTTPError(404, "not found")
    except HTTPError as exc:
        await respond(send, exc.status, dump({"detail": exc.detail}), JSON)
