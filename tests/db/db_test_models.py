"""Models and an app shared by the keel.db tests (tables prefixed ``t_``)."""

from __future__ import annotations

import asyncio
import enum
from typing import Annotated, Any

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column, relationship, selectinload

from keel import App, Header, HTTPError
from keel.db import (
    UUIDPK,
    CursorPage,
    CursorPagination,
    Database,
    IntPK,
    Model,
    Page,
    Pagination,
    Schema,
    Session,
    Timestamps,
    Versioned,
    apply,
    expect_version,
    get_or_404,
    paginate,
    paginate_keyset,
    select_for_update,
)


class Genre(enum.Enum):
    novel = "novel"
    poetry = "poetry"
    essay = "essay"


class Author(IntPK, Timestamps, Model):
    """A writer."""

    __tablename__ = "t_authors"

    name: Mapped[str] = mapped_column(String(50), unique=True, comment="Full name")
    email: Mapped[str | None] = mapped_column(String(100), unique=True)
    bio: Mapped[str | None] = mapped_column(Text)
    books: Mapped[list[Book]] = relationship(back_populates="author", passive_deletes="all")


class Book(IntPK, Model):
    """A book."""

    __tablename__ = "t_books"
    __table_args__ = (CheckConstraint("pages >= 0", name="pages_positive"),)

    title: Mapped[str] = mapped_column(String(200))
    pages: Mapped[int] = mapped_column(default=0)
    genre: Mapped[Genre] = mapped_column(default=Genre.novel)
    author_id: Mapped[int] = mapped_column(ForeignKey("t_authors.id"), index=True)
    author: Mapped[Author] = relationship(back_populates="books")


class Counter(IntPK, Versioned, Model):
    """A counter with optimistic locking."""

    __tablename__ = "t_counters"

    value: Mapped[int] = mapped_column(default=0)


class Token(UUIDPK, Model):
    """A row keyed by a UUID."""

    __tablename__ = "t_tokens"

    label: Mapped[str] = mapped_column(String(20))


class AuthorRead(Schema, model=Author):
    pass


class AuthorCreate(Schema, model=Author, mode="create"):
    pass


class AuthorUpdate(Schema, model=Author, mode="update"):
    pass


class BookRead(Schema, model=Book):
    pass


class BookCreate(Schema, model=Book, mode="create"):
    pass


class AuthorWithBooks(Schema, model=Author):
    books: list[BookRead]


class CounterRead(Schema, model=Counter):
    pass


def make_app(url: str, **options: Any) -> App:
    """An app with CRUD routes over the test models."""
    app = App()
    db = Database(url, **options)
    db.init_app(app)

    @app.post("/authors", status_code=201, response_model=AuthorRead)
    async def create_author(data: AuthorCreate, session: Session) -> Author:
        author = Author(**data.model_dump(exclude_unset=True))
        session.add(author)
        await session.flush()
        return author

    @app.get("/authors")
    async def list_authors(
        session: Session, page: Pagination, q: str | None = None
    ) -> Page[AuthorRead]:
        stmt = select(Author).order_by(Author.id)
        if q:
            stmt = stmt.where(Author.name.contains(q))
        return await paginate(session, stmt, page)

    @app.get("/authors-unchecked/{author_id}", response_model=AuthorRead | None)
    async def unchecked(author_id: int, session: Session) -> Author | None:
        return await session.get(Author, author_id)

    @app.get("/authors-all", response_model=list[AuthorRead])
    async def all_authors(session: Session) -> list[Author]:
        return list(await session.scalars(select(Author).order_by(Author.name)))

    @app.get("/authors-by-cursor")
    async def authors_by_cursor(
        session: Session, page: CursorPagination, desc: bool = False
    ) -> CursorPage[AuthorRead]:
        return await paginate_keyset(
            session, select(Author), [Author.name, Author.id], page, descending=desc
        )

    @app.get("/authors/{author_id}", response_model=AuthorWithBooks)
    async def get_author(author_id: int, session: Session) -> Author:
        return await get_or_404(session, Author, author_id, options=[selectinload(Author.books)])

    @app.patch("/authors/{author_id}", response_model=AuthorRead)
    async def update_author(author_id: int, data: AuthorUpdate, session: Session) -> Author:
        author = await get_or_404(session, Author, author_id)
        apply(author, data)
        await session.flush()
        return author

    @app.delete("/authors/{author_id}", status_code=204)
    async def delete_author(author_id: int, session: Session) -> None:
        await session.delete(await get_or_404(session, Author, author_id))

    @app.post("/books", status_code=201, response_model=BookRead)
    async def create_book(data: BookCreate, session: Session) -> Book:
        book = Book(**data.model_dump(exclude_unset=True))
        session.add(book)
        await session.flush()
        return book

    @app.post("/books/deferred", status_code=202)
    async def create_book_deferred(data: BookCreate, session: Session) -> dict[str, bool]:
        session.add(Book(**data.model_dump(exclude_unset=True)))
        return {"accepted": True}

    @app.post("/authors-then-fail")
    async def create_then_fail(data: AuthorCreate, session: Session) -> None:
        session.add(Author(**data.model_dump()))
        await session.flush()
        raise HTTPError(400, "changed my mind")

    @app.get("/authors-one/{name}", response_model=AuthorRead)
    async def one_by_name(name: str, session: Session) -> Author:
        return (await session.scalars(select(Author).where(Author.name == name))).one()

    @app.post("/counters", status_code=201, response_model=CounterRead)
    async def create_counter(session: Session) -> Counter:
        counter = Counter()
        session.add(counter)
        await session.flush()
        return counter

    @app.post("/counters/{counter_id}/increment", response_model=CounterRead)
    async def increment(counter_id: int, session: Session, pause: float = 0.0) -> Counter:
        counter = await get_or_404(session, Counter, counter_id)
        await asyncio.sleep(pause)
        counter.value += 1
        await session.flush()
        return counter

    @app.put("/counters/{counter_id}", response_model=CounterRead)
    async def set_counter(
        counter_id: int,
        value: int,
        session: Session,
        if_match: Annotated[str | None, Header()] = None,
    ) -> Counter:
        counter = await get_or_404(session, Counter, counter_id)
        expect_version(counter, if_match)
        counter.value = value
        await session.flush()
        return counter

    @app.post("/counters/{counter_id}/locked-increment", response_model=CounterRead)
    async def locked_increment(counter_id: int, session: Session, pause: float = 0.0) -> Counter:
        counter = await select_for_update(session, Counter, counter_id)
        await asyncio.sleep(pause)
        counter.value += 1
        await session.flush()
        return counter

    return app
