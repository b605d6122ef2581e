"""Flask, as its docs write it: sync views, the tutorial's sqlite3 pattern for reads (a
connection per request kept on `g`, closed on teardown), SQLAlchemy's sync ORM for the
`writes` scenario (a `Session` per request, what Flask-SQLAlchemy does underneath, over the
same models as the async apps), render_template (Jinja2, autoescaped), and pydantic for the
bodies since Flask has no validation of its own. The dependency chain of `deps` is
written as plain calls, the generator one as a context manager."""

from __future__ import annotations

import itertools
import random
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, Response, g, render_template, request
from pydantic import BaseModel, ValidationError
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from bench.apps.orm import Note
from bench.apps.shared import (
    ADDITIONAL_FORTUNE,
    DB_PATH,
    HELLO,
    ROUTE_COUNT,
    ROUTE_PREFIX,
    TEMPLATES_DIR,
    WORLD_ROWS,
    Item,
    NoteIn,
    parse_bool,
)

app = Flask(__name__, template_folder=str(TEMPLATES_DIR))
engine = create_engine(f"sqlite:///{DB_PATH}")
item_ids = itertools.count(1)
open_resources = 0


def get_db() -> sqlite3.Connection:
    if "db" not in g:
        g.db = sqlite3.connect(DB_PATH)
        g.db.row_factory = sqlite3.Row
    conn: sqlite3.Connection = g.db
    return conn


@app.teardown_appcontext
def close_db(exc: BaseException | None = None) -> None:
    conn = g.pop("db", None)
    if conn is not None:
        conn.close()


def dep_a() -> int:
    return 1


def dep_b(a: int) -> int:
    return a + 1


@contextmanager
def dep_c(b: int) -> Iterator[int]:
    global open_resources
    open_resources += 1
    try:
        yield b + 1
    finally:
        open_resources -= 1


@app.get("/plaintext")
def plaintext() -> Response:
    return Response(HELLO, mimetype="text/plain")


@app.get("/json")
def json_() -> dict[str, str]:
    return {"message": HELLO}


@app.get("/users/<int:id>")
def user(id: int) -> Any:
    try:
        verbose = parse_bool(request.args.get("verbose", "false"))
    except ValueError:
        return {"detail": "verbose must be a boolean"}, 422
    return {"id": id, "verbose": verbose}


def validated(model: type[BaseModel]) -> tuple[Any, Any]:
    """The request body validated by `model`, or an error answer."""
    if not request.is_json:
        return None, ({"detail": "expected application/json"}, 415)
    try:
        return model.model_validate_json(request.get_data()), None
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False, include_context=False)
        return None, ({"detail": errors}, 422)


@app.post("/items")
def create_item() -> Any:
    item, error = validated(Item)
    if error:
        return error
    return {"id": next(item_ids), **item.model_dump()}, 201


@app.post("/notes")
def create_note() -> Any:
    note, error = validated(NoteIn)
    if error:
        return error
    with Session(engine) as session:
        row = Note(author=note.author, text=note.text)
        session.add(row)
        session.commit()
        return {"id": row.id, "author": row.author, "text": row.text}, 201


def item_route(index: int) -> Callable[[int], dict[str, int]]:
    def item(id: int) -> dict[str, int]:
        return {"route": index, "id": id}

    return item


for index in range(ROUTE_COUNT):
    app.add_url_rule(
        f"{ROUTE_PREFIX}{index}/<int:id>",
        endpoint=f"item{index}",
        view_func=item_route(index),
        methods=["GET"],
    )


@app.get("/db")
def db() -> dict[str, int]:
    world_id = random.randint(1, WORLD_ROWS)
    row = (
        get_db().execute("SELECT id, randomnumber FROM world WHERE id = ?", (world_id,)).fetchone()
    )
    return {"id": row["id"], "randomNumber": row["randomnumber"]}


@app.get("/fortunes")
def fortunes() -> str:
    rows = [dict(row) for row in get_db().execute("SELECT id, message FROM fortune")]
    rows.append({"id": 0, "message": ADDITIONAL_FORTUNE})
    rows.sort(key=lambda row: row["message"])
    return render_template("fortunes.html", fortunes=rows)


@app.get("/deps")
def deps() -> dict[str, int]:
    a = dep_a()
    b = dep_b(a)
    with dep_c(b) as c:
        return {"value": c}
