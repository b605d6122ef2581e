"""get_or_404: by primary key or by any column, loading what the caller asks for."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import selectinload

from keel import App
from keel.db import Session, get_or_404
from keel.db.testing import TestSession
from keel.testing import TestClient

from .db_test_models import Author, AuthorRead, AuthorWithBooks, Book, make_app


@pytest.fixture
def app(database_url: str) -> App:
    app = make_app(database_url)

    @app.get("/by-name/{name}", response_model=AuthorRead)
    async def by_name(name: str, session: Session) -> Author:
        return await get_or_404(session, Author, name=name, detail="No author by that name.")

    @app.get("/by-email", response_model=AuthorRead)
    async def by_email(email: str, session: Session) -> Author:
        return await get_or_404(session, Author, email=email)

    @app.get("/with-books/{author_id}", response_model=AuthorWithBooks)
    async def with_books(author_id: int, session: Session) -> Author:
        return await get_or_404(session, Author, author_id, load=[selectinload(Author.books)])

    @app.get("/books-by-author/{author_id}")
    async def book_by_author(author_id: int, session: Session) -> dict[str, str]:
        book = await get_or_404(session, Book, author_id=author_id)
        return {"title": book.title}

    return app


def add_author(db_session: TestSession, name: str = "Ursula") -> Author:
    author = Author(name=name, email=f"{name.lower()}@example.com")
    db_session.add(author)
    db_session.flush()
    return author


def test_by_a_column(db_client: TestClient, db_session: TestSession) -> None:
    author = add_author(db_session)
    assert db_client.get("/by-name/Ursula").json()["id"] == author.id
    assert db_client.get("/by-email", params={"email": "ursula@example.com"}).status_code == 200


def test_missing_by_a_column_is_a_404_with_the_apps_detail(db_client: TestClient) -> None:
    response = db_client.get("/by-name/Nobody")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "No author by that name."
    default = db_client.get("/by-email", params={"email": "x@example.com"}).json()
    assert default["detail"] == "Author not found."


def test_an_integer_out_of_the_columns_range_is_a_404(db_client: TestClient) -> None:
    assert db_client.get(f"/books-by-author/{2**40}").status_code == 404


def test_load_loads_relationships(db_client: TestClient, db_session: TestSession) -> None:
    author_id = add_author(db_session).id
    db_session.add(Book(title="Earthsea", author_id=author_id))
    db_session.flush()
    db_session.expire_all()  # the books are not in the session's memory
    body = db_client.get(f"/with-books/{author_id}").json()
    assert [b["title"] for b in body["books"]] == ["Earthsea"]


def test_a_key_or_columns_not_both(db_session: TestSession) -> None:
    with pytest.raises(TypeError, match="not both"):
        db_session.run(get_or_404(db_session.session, Author, 1, name="x"))
    with pytest.raises(TypeError, match="primary key or column"):
        db_session.run(get_or_404(db_session.session, Author))
    with pytest.raises(TypeError, match="no column"):
        db_session.run(get_or_404(db_session.session, Author, nickname="x"))
