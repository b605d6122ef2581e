"""Notes: a token-protected API where each user sees and changes only their own notes.

Run it::

    keel run examples.notes.app:app

then open http://127.0.0.1:8000/docs, register with ``POST /auth/register``, press
*Authorize* and log in with the email and password. A note of another user answers 404,
exactly like a note that does not exist: the API never tells whether it exists.

The same app serves the notes as pages for a browser: http://127.0.0.1:8000/login opens a
session (a cookie, with CSRF-protected forms) instead of issuing a token.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field
from sqlalchemy import ForeignKey, String, select
from sqlalchemy.orm import Mapped, mapped_column

from keel import App, HTTPError, Request
from keel.auth import USER_TABLE, Auth, CurrentUser, authenticate, login, logout
from keel.db import Database, IntPK, Model, NotBlank, Schema, Session, Timestamps, apply
from keel.flash import flash
from keel.forms import Form, Hidden, Password, see_other
from keel.ratelimit import by_ip
from keel.responses import HTMLResponse, Response, safe_redirect
from keel.templates import Templates

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


# -- the same notes as web pages, for a browser session -----------------------------------------

templates = Templates(Path(__file__).with_name("templates"))


class LoginForm(Form):
    """The login page's form."""

    email: str = Field(min_length=1, max_length=254)
    password: Annotated[str, Password()] = Field(min_length=1, max_length=4096)
    next: Annotated[str, Hidden()] = "/"


@app.get("/", include_in_schema=False)
async def home(request: Request, session: Session) -> Response:
    """The logged-in user's notes, or a link to log in."""
    if not request.user.is_authenticated:
        return see_other("/login?next=/")
    notes = await session.scalars(
        select(Note).where(Note.owner_id == request.user.id).order_by(Note.id.desc())
    )
    return templates.render(request, "home.html", {"notes": list(notes)})


@app.get("/login", include_in_schema=False)
async def login_page(request: Request, next: str = "/") -> HTMLResponse:
    """The login form."""
    form = LoginForm.blank(request, initial={"next": next})
    return templates.render(request, "login.html", {"form": form})


@app.post("/login", include_in_schema=False)
async def login_submit(request: Request, session: Session) -> Response:
    """Check the password, open the session, go where the visitor was headed (this site
    only: ``safe_redirect`` refuses other sites)."""
    form = await LoginForm.bind(request)
    if form.valid:
        ip = by_ip(request)
        await auth.throttle.check(form.data.email, ip)
        user = await authenticate(session, form.data.email, form.data.password)
        if user is not None:
            await login(request, user)
            flash(request, "Welcome back.", "success")
            return safe_redirect(request, form.data.next)
        await auth.throttle.failed(form.data.email, ip)
        form.add_error(None, "Incorrect email or password.")
    return templates.render(request, "login.html", {"form": form}, status=400)


@app.post("/logout", include_in_schema=False)
async def logout_submit(request: Request) -> Response:
    """End the session."""
    await logout(request)
    flash(request, "You are logged out.")
    return see_other("/login")
