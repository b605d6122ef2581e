"""A notebook rendered on the server: list, detail, create and edit with a form, an
attachment upload, flash messages. Run it with::

    keel run examples.notebook.app:app

Notes live in a SQLite file (``KEEL_DATABASE_URL``, or ``./notebook.db``); attachments in
``./notebook-uploads`` (``NOTEBOOK_UPLOADS``) under names the server makes up.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import Field
from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, mapped_column

from keel import App, HTTPError, Request
from keel.db import Database, IntPK, Model, Session, Timestamps, get_or_404
from keel.flash import flash
from keel.forms import Form, Textarea, see_other
from keel.requests import UploadFile
from keel.responses import FileResponse, HTMLResponse, Response
from keel.templates import Templates

HERE = Path(__file__).parent
MAX_ATTACHMENT = 2 * 1024 * 1024
BODY_LIMIT = MAX_ATTACHMENT + 64 * 1024  # the attachment and the text fields


class Note(IntPK, Timestamps, Model):
    """A note, with an optional attachment stored on disk."""

    __tablename__ = "notebook_note"

    title: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(default="")
    attachment: Mapped[str | None] = mapped_column(String(64))  # the server's file name
    attachment_name: Mapped[str | None] = mapped_column(String(255))  # the client's


class NoteForm(Form):
    """What a visitor may type: the title, the text and an optional attachment."""

    title: str = Field(min_length=1, max_length=120)
    body: Annotated[str, Textarea(rows=8)] = Field(default="", max_length=10_000)
    attachment: UploadFile | None = Field(default=None, description="Up to 2 MB.")


def create_app(database_url: str | None = None, uploads: str | Path | None = None) -> App:
    """The notebook app, on ``database_url`` with attachments in ``uploads``."""
    app = App(title="Notebook")
    db = Database(database_url or os.environ.get("KEEL_DATABASE_URL"))
    db.init_app(app)
    app.on_startup(db.create_all)  # a prototype: a real app uses migrations
    folder = Path(uploads or os.environ.get("NOTEBOOK_UPLOADS", "notebook-uploads"))
    templates = Templates(HERE / "templates")
    app.static("/static", HERE / "static")

    async def apply_form(
        request: Request, note: Note | None, session: Session
    ) -> tuple[Note | None, Response | None]:
        form = await NoteForm.bind(request)
        upload = form.data.attachment if form.valid else None
        if upload is not None and upload.size > MAX_ATTACHMENT:
            form.add_error("attachment", "The attachment is larger than 2 MB.")
        if not form.valid:
            page = templates.render(
                request, "notes/form.html", {"form": form, "note": note}, status=422
            )
            return None, page
        data = form.data
        if note is None:
            note = Note(title=data.title, body=data.body)
            session.add(note)
        else:
            note.title, note.body = data.title, data.body
        if upload is not None:
            stored = await upload.save(folder)  # a server-made name, never the client's
            note.attachment = stored.name
            note.attachment_name = upload.filename or "attachment"
        await session.flush()
        return note, None

    @app.get("/", name="notes")
    async def notes(request: Request, session: Session) -> HTMLResponse:
        rows = (await session.scalars(select(Note).order_by(Note.id.desc()))).all()
        return templates.render(request, "notes/list.html", {"notes": rows})

    @app.get("/notes/new", name="new_note")
    async def new_note(request: Request) -> HTMLResponse:
        return templates.render(request, "notes/form.html", {"form": NoteForm.blank(request)})

    @app.post("/notes/new", max_body_size=BODY_LIMIT)
    async def create_note(request: Request, session: Session) -> Response:
        note, page = await apply_form(request, None, session)
        if page is not None:
            return page
        assert note is not None
        flash(request, f"Note “{note.title}” created.", "success")
        return see_other(app.url_path_for("note", note_id=note.id))

    @app.get("/notes/{note_id}", name="note")
    async def show_note(request: Request, note_id: int, session: Session) -> HTMLResponse:
        note = await get_or_404(session, Note, note_id)
        return templates.render(request, "notes/detail.html", {"note": note})

    @app.get("/notes/{note_id}/edit", name="edit_note")
    async def edit_note(request: Request, note_id: int, session: Session) -> HTMLResponse:
        note = await get_or_404(session, Note, note_id)
        form = NoteForm.blank(request, initial={"title": note.title, "body": note.body})
        return templates.render(request, "notes/form.html", {"form": form, "note": note})

    @app.post("/notes/{note_id}/edit", max_body_size=BODY_LIMIT)
    async def update_note(request: Request, note_id: int, session: Session) -> Response:
        note = await get_or_404(session, Note, note_id)
        saved, page = await apply_form(request, note, session)
        if page is not None:
            return page
        flash(request, "Changes saved.", "success")
        return see_other(app.url_path_for("note", note_id=note_id))

    @app.post("/notes/{note_id}/delete", name="delete_note")
    async def delete_note(request: Request, note_id: int, session: Session) -> Response:
        note = await get_or_404(session, Note, note_id)
        await session.delete(note)
        flash(request, f"Note “{note.title}” deleted.", "info")
        return see_other(app.url_path_for("notes"))

    @app.get("/notes/{note_id}/attachment", name="attachment")
    async def attachment(note_id: int, session: Session) -> FileResponse:
        note = await get_or_404(session, Note, note_id)
        if note.attachment is None:
            raise HTTPError(404, "This note has no attachment")
        # Always a download, never shown inline: an uploaded page cannot run in ours.
        return FileResponse(folder / note.attachment, filename=note.attachment_name)

    return app


app = create_app()
