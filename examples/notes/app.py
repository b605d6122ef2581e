"""Notes: a token-protected API where each user sees and changes only their own notes.

Run it::

    keel run examples.notes.app:app

then open http://127.0.0.1:8000/docs, register with ``POST /auth/register``, press
*Authorize* and log in with the email and password. A note of another user answers 404,
exactly like a note that does not exist: the API never tells whether it exists.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, select
from sqlalchemy.orm import Mapped, mapped_column

from keel import App, HTTPError
from keel.auth import USER_TABLE, Auth, CurrentUser
from keel.db import Database, IntPK, Model, NotBlank, Schema, Session, Timestamps, apply

app = App(title="keel notes example", version="1.0.0")
db = Database()  # KEEL_DATABASE_URL, or ./app.db
db.init_app(app)
auth = Auth(scopes={"notes:read": "Read your notes", "notes:write": "Change your notes"})
auth.init_app(app)
app.include_router(auth.router(registration=True))


class Note(IntPK, Timestamps, Model):
    """A note, owned by one user."""

    __tablename__ = "notes_notes"

    owner_id: Mapped[int] = mapped_column(
        ForeignKey(f"{USER_TABLE}.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(String(10_000), default="")


class NoteRead(Schema, model=Note, exclude={"owner_id"}):
    """A note."""


class NoteCreate(
    Schema, model=Note, mode="create", exclude={"owner_id"}, constraints={"title": NotBlank}
):
    """A new note."""


class NoteUpdate(
    Schema, model=Note, mode="update", exclude={"owner_id"}, constraints={"title": NotBlank}
):
    """Changes to a note: only the fields sent."""


@app.on_startup
async def create_tables() -> None:
    """Create the tables (an example; a real project runs ``keel db migrate``)."""
    await db.create_all()


async def own_note(session: Session, user: CurrentUser, note_id: int) -> Note:
    """The caller's note ``note_id``; 404 when it does not exist or is someone else's."""
    note = await session.scalar(select(Note).where(Note.id == note_id, Note.owner_id == user.id))
    if note is None:
        raise HTTPError(404, f"No note {note_id}.")
    return note


@app.get("/notes")
async def list_notes(session: Session, user: CurrentUser) -> list[NoteRead]:
    """Your notes, newest first."""
    notes = await session.scalars(
        select(Note).where(Note.owner_id == user.id).order_by(Note.id.desc())
    )
    return [NoteRead.model_validate(n) for n in notes]


@app.post("/notes", status=201)
async def create_note(body: NoteCreate, session: Session, user: CurrentUser) -> NoteRead:
    """Write a new note."""
    note = Note(owner_id=user.id, **body.model_dump())
    session.add(note)
    await session.flush()
    return NoteRead.model_validate(note)


@app.get("/notes/{note_id}")
async def read_note(note_id: int, session: Session, user: CurrentUser) -> NoteRead:
    """One of your notes."""
    return NoteRead.model_validate(await own_note(session, user, note_id))


@app.patch("/notes/{note_id}")
async def update_note(
    note_id: int, body: NoteUpdate, session: Session, user: CurrentUser
) -> NoteRead:
    """Change one of your notes."""
    note = await own_note(session, user, note_id)
    apply(note, body)
    await session.flush()
    return NoteRead.model_validate(note)


@app.delete("/notes/{note_id}", status=204)
async def delete_note(note_id: int, session: Session, user: CurrentUser) -> None:
    """Delete one of your notes."""
    await session.delete(await own_note(session, user, note_id))
