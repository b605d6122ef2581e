"""The CRUD API. Run it with::

keel db --app examples.crud.app:app migrate
keel run examples.crud.app:app
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from keel import App, Header, Query
from keel.db import (
    CursorPage,
    CursorPagination,
    Database,
    NotBlank,
    Page,
    Pagination,
    Schema,
    Session,
    expect_version,
    get_or_404,
    paginate,
    paginate_keyset,
)

from .models import Author, Book, Genre

app = App(title="keel CRUD example", version="1.0.0")
db = Database(migrations=Path(__file__).with_name("migrations"))
db.init_app(app)

# Declared once, on the models: the API schemas take their fields from the columns.


class AuthorRead(Schema, model=Author):
    """A writer."""


class AuthorCreate(Schema, model=Author, mode="create", constraints={"name": NotBlank}):
    """A new writer."""


class AuthorUpdate(Schema, model=Author, mode="update", constraints={"name": NotBlank}):
    """Changes to a writer: only the fields sent."""


class BookRead(Schema, model=Book):
    """A book."""


class BookCreate(Schema, model=Book, mode="create", constraints={"title": NotBlank}):
    """A new book."""


class BookUpdate(Schema, model=Book, mode="update", constraints={"title": NotBlank}):
    """Changes to a book: only the fields sent."""


class AuthorDetail(AuthorRead):
    """A writer with their books."""

    books: list[BookRead]


@app.get("/authors", tags=["authors"])
async def list_authors(
    session: Session,
    page: Pagination,
    name: Annotated[str | None, Query(max_length=100, description="Part of the name")] = None,
) -> Page[AuthorRead]:
    """List authors, optionally those whose name contains ``name``."""
    query = select(Author).order_by(Author.id)
    if name:
        query = query.where(Author.name.contains(name, autoescape=True))
    return await paginate(session, query, page)


@app.post("/authors", status_code=201, tags=["authors"])
async def create_author(data: AuthorCreate, session: Session) -> AuthorRead:
    """Add an author (409 when the name is taken)."""
    author = data.apply(Author())
    session.add(author)
    await session.flush()
    return AuthorRead.model_validate(author)


@app.get("/authors/{author_id}", tags=["authors"])
async def get_author(author_id: int, session: Session) -> AuthorDetail:
    """One author with their books."""
    author = await get_or_404(session, Author, author_id, load=[selectinload(Author.books)])
    return AuthorDetail.model_validate(author)


@app.patch("/authors/{author_id}", tags=["authors"])
async def update_author(author_id: int, data: AuthorUpdate, session: Session) -> AuthorRead:
    """Change the fields sent, leave the others."""
    author = data.apply(await get_or_404(session, Author, author_id))
    await session.flush()
    return AuthorRead.model_validate(author)


@app.delete("/authors/{author_id}", status_code=204, tags=["authors"])
async def delete_author(author_id: int, session: Session) -> None:
    """Remove an author (409 while they still have books)."""
    await session.delete(await get_or_404(session, Author, author_id))
    await session.flush()


@app.get("/authors/{author_id}/books", tags=["authors"])
async def author_books(
    author_id: int, session: Session, page: CursorPagination
) -> CursorPage[BookRead]:
    """An author's books, newest first, by cursor."""
    await get_or_404(session, Author, author_id)
    query = select(Book).where(Book.author_id == author_id)
    return await paginate_keyset(session, query, [Book.id], page, descending=True)


@app.get("/books", tags=["books"])
async def list_books(
    session: Session,
    page: Pagination,
    author_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    genre: Genre | None = None,
    published_after: Annotated[int | None, Query(ge=-3000, le=3000)] = None,
    title: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[BookRead]:
    """List books, filtered by author, genre, year or part of the title."""
    query = select(Book).order_by(Book.id)
    if author_id is not None:
        query = query.where(Book.author_id == author_id)
    if genre is not None:
        query = query.where(Book.genre == genre)
    if published_after is not None:
        query = query.where(Book.year > published_after)
    if title:
        query = query.where(Book.title.contains(title, autoescape=True))
    return await paginate(session, query, page)


@app.post("/books", status_code=201, tags=["books"])
async def create_book(data: BookCreate, session: Session) -> BookRead:
    """Add a book (422 when the author does not exist)."""
    book = data.apply(Book())
    session.add(book)
    await session.flush()
    return BookRead.model_validate(book)


@app.get("/books/{book_id}", tags=["books"])
async def get_book(book_id: int, session: Session) -> BookRead:
    """One book."""
    return BookRead.model_validate(await get_or_404(session, Book, book_id))


@app.patch("/books/{book_id}", tags=["books"])
async def update_book(
    book_id: int,
    data: BookUpdate,
    session: Session,
    if_match: Annotated[str | None, Header(max_length=40)] = None,
) -> BookRead:
    """Edit a book; send ``If-Match: <version>`` to refuse overwriting someone else's edit."""
    book = await get_or_404(session, Book, book_id)
    if if_match is not None:
        expect_version(book, if_match)
    data.apply(book)
    await session.flush()
    return BookRead.model_validate(book)


@app.delete("/books/{book_id}", status_code=204, tags=["books"])
async def delete_book(book_id: int, session: Session) -> None:
    """Remove a book."""
    await session.delete(await get_or_404(session, Book, book_id))
