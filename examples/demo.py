"""The README demo: a public JSON API and its admin, in one process, over the same models.

Run it with ``./scripts/demo`` (or ``keel run examples.demo:app``): the first start creates
the tables in ``./demo.db`` (``KEEL_DATABASE_URL`` picks another database). Then, in another
terminal, ``.venv/bin/keel createsuperuser --app examples.demo:app`` and log in at
http://127.0.0.1:8000/admin; the API's documentation is at http://127.0.0.1:8000/docs.
"""

from __future__ import annotations

import os
from typing import Annotated

from pydantic import BaseModel, Field
from sqlalchemy import ForeignKey, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column, relationship, selectinload

from keel import App, BackgroundTasks, Depends, HTTPError, Query, Router
from keel.admin import Admin, ModelAdmin, TabularInline
from keel.auth import Auth, sync_permissions
from keel.db import Database, IntPK, Model, Session, Timestamps, Versioned
from keel.security import APIKeyHeader

app = App(title="keel demo", version="1.0.0", description="A typed notes API with an admin.")
db = Database(os.environ.get("KEEL_DATABASE_URL") or "sqlite+aiosqlite:///./demo.db")
db.init_app(app)
Auth().init_app(app)  # users, permissions and the admin's login sessions


class Note(IntPK, Timestamps, Versioned, Model):
    """A note; the API and the admin both read and write it."""

    __tablename__ = "demo_notes"
    __app_label__ = "notes"

    title: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[Label]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="Label.id"
    )

    def __str__(self) -> str:
        return self.title


class Label(IntPK, Model):
    """A word attached to a note."""

    __tablename__ = "demo_tags"
    __app_label__ = "notes"

    note_id: Mapped[int] = mapped_column(
        ForeignKey("demo_notes.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(50), index=True)

    def __str__(self) -> str:
        return self.name


# -- the admin: /admin, for staff users ------------------------------------------------------


class LabelInline(TabularInline[Label]):
    extra = 2


class NoteAdmin(ModelAdmin[Note]):
    list_display = ["title", "created_at", "updated_at"]
    search_fields = ["title", "body"]
    date_hierarchy = "created_at"
    inlines = [LabelInline]


class LabelAdmin(ModelAdmin[Label]):
    list_display = ["name", "note_id"]
    search_fields = ["name"]


admin = Admin(app, path="/admin", title="keel demo")
admin.register(NoteAdmin)
admin.register(LabelAdmin)


@app.on_startup
async def create_tables() -> None:
    """A prototype creates its tables at startup; a real project runs `keel db migrate`."""
    await db.create_all()
    async with db.session() as session:
        await sync_permissions(session)  # view/add/change/delete for each model


# -- the public JSON API: /notes ---------------------------------------------------------------


class NoteIn(BaseModel):
    """What a client sends to create a note."""

    title: str = Field(min_length=1, max_length=100, examples=["Groceries"])
    body: str = Field(default="", max_length=10_000)
    tags: list[Annotated[str, Field(min_length=1, max_length=50)]] = Field(
        default_factory=list, max_length=10
    )


class NoteOut(NoteIn):
    """A stored note."""

    id: int


class Store:
    """What the background tasks wrote (the demo's stand-in for sending mail)."""

    def __init__(self) -> None:
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


def out(note: Note) -> NoteOut:
    return NoteOut(id=note.id, title=note.title, body=note.body, tags=[t.name for t in note.tags])


notes = Router(prefix="/notes", tags=["notes"])


@notes.get("")
async def list_notes(
    session: Session,
    tag: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[NoteOut]:
    """List notes, optionally only those with ``tag``."""
    query = select(Note).options(selectinload(Note.tags)).order_by(Note.id)
    if tag is not None:
        query = query.where(Note.id.in_(select(Label.note_id).where(Label.name == tag)))
    rows = await session.scalars(query.limit(limit).offset(offset))
    return [out(note) for note in rows]


async def load(session: Session, note_id: int) -> Note:
    note = await session.scalar(
        select(Note).where(Note.id == note_id).options(selectinload(Note.tags))
    )
    if note is None:
        raise HTTPError(404, f"Note {note_id} does not exist")
    return note


@notes.get("/{note_id}")
async def get_note(note_id: int, session: Session) -> NoteOut:
    """Fetch one note."""
    return out(await load(session, note_id))


@notes.post("", status=201, dependencies=[Depends(require_token)])
async def create_note(
    note: NoteIn, session: Session, s: StoreDep, tasks: BackgroundTasks
) -> NoteOut:
    """Create a note (needs ``X-Token: demo``)."""
    created = Note(title=note.title, body=note.body, tags=[Label(name=t) for t in note.tags])
    session.add(created)
    await session.flush()
    tasks.add_task(s.log.append, f"created {created.id}")
    return out(created)


@notes.delete("/{note_id}", status=204, dependencies=[Depends(require_token)])
async def delete_note(note_id: int, session: Session) -> None:
    """Delete a note and its tags (needs ``X-Token: demo``)."""
    await session.delete(await load(session, note_id))


app.include(notes)


@app.get("/")
async def index() -> dict[str, str]:
    """Where to go next."""
    return {"docs": "/docs", "notes": "/notes"}
