"""The README demo: a small typed JSON API with validation, dependencies and errors.

Run it with ``./scripts/demo`` (or ``keel run examples.demo:app``) and open
http://127.0.0.1:8000/docs.
"""

from __future__ import annotations

import itertools
from typing import Annotated

from pydantic import BaseModel, Field

from keel import App, BackgroundTasks, Depends, HTTPError, Query, Router
from keel.security import APIKeyHeader

app = App(title="keel demo", version="1.0.0", description="A typed notes API.")


class NoteIn(BaseModel):
    """What a client sends to create or replace a note."""

    title: str = Field(min_length=1, max_length=100, examples=["Groceries"])
    body: str = Field(default="", max_length=10_000)
    tags: list[str] = Field(default_factory=list, max_length=10)


class Note(NoteIn):
    """A stored note."""

    id: int


class Store:
    """An in-memory note store (the embedded default: no services needed)."""

    def __init__(self) -> None:
        self.notes: dict[int, Note] = {}
        self.ids = itertools.count(1)
        self.log: list[str] = []


store = Store()


def get_store() -> Store:
    return store


StoreDep = Annotated[Store, Depends(get_store)]


api_key = APIKeyHeader(name="X-Token", description="Writes need `X-Token: demo`.")


def require_token(token: Annotated[str, Depends(api_key)]) -> None:
    """Writes need the header ``X-Token: demo`` (the docs page's Authorize button sets it)."""
    if token != "demo":
        raise api_key.unauthorized("Send the header X-Token: demo")


notes = Router(prefix="/notes", tags=["notes"])


@notes.get("")
async def list_notes(
    s: StoreDep,
    tag: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[Note]:
    """List notes, optionally only those with ``tag``."""
    found = [n for n in s.notes.values() if tag is None or tag in n.tags]
    return found[offset : offset + limit]


@notes.get("/{note_id}")
async def get_note(note_id: int, s: StoreDep) -> Note:
    """Fetch one note."""
    if note_id not in s.notes:
        raise HTTPError(404, f"Note {note_id} does not exist")
    return s.notes[note_id]


@notes.post("", status=201, dependencies=[Depends(require_token)])
async def create_note(note: NoteIn, s: StoreDep, tasks: BackgroundTasks) -> Note:
    """Create a note (needs ``X-Token: demo``)."""
    created = Note(id=next(s.ids), **note.model_dump())
    s.notes[created.id] = created
    tasks.add_task(s.log.append, f"created {created.id}")
    return created


@notes.delete("/{note_id}", status=204, dependencies=[Depends(require_token)])
async def delete_note(note_id: int, s: StoreDep) -> None:
    """Delete a note (needs ``X-Token: demo``)."""
    if s.notes.pop(note_id, None) is None:
        raise HTTPError(404, f"Note {note_id} does not exist")


app.include(notes)


@app.get("/")
async def index() -> dict[str, str]:
    """Where to go next."""
    return {"docs": "/docs", "notes": "/notes"}
