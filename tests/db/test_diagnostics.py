"""Programming errors are 500s that say what to do: a missing table, an unloaded relationship."""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy import text
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from keel import App
from keel.db import Database, Session, get_or_404
from keel.db.diagnostics import LazyLoadError, SchemaError, explain
from keel.testing import TestClient
from tests.settings import production

from .db_test_models import Author, AuthorRead, AuthorWithBooks


def schema_app(url: str, *, debug: bool) -> App:
    app = App(settings=production(debug=debug))
    Database(url).init_app(app)

    @app.get("/authors/{author_id}", response_model=AuthorRead)
    async def get_author(author_id: int, session: Session) -> Author:
        return await get_or_404(session, Author, author_id)

    @app.get("/authors/{author_id}/books", response_model=AuthorWithBooks)
    async def get_author_books(author_id: int, session: Session) -> Author:
        return await get_or_404(session, Author, author_id)  # books never loaded

    @app.get("/authors/{author_id}/book-count")
    async def count_books(author_id: int, session: Session) -> int:
        return len((await get_or_404(session, Author, author_id)).books)

    @app.get("/authors/{author_id}/expired")
    async def get_expired(author_id: int, session: Session) -> dict[str, str]:
        author = await get_or_404(session, Author, author_id)
        session.expire(author)
        return {"name": author.name}

    return app


async def _sql(url: str, *statements: str) -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


def test_a_missing_table_is_a_500_not_an_outage(
    fresh_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = schema_app(fresh_database_url, debug=False)
    with TestClient(app) as client, caplog.at_level(logging.ERROR, logger="keel.db"):
        response = client.get("/authors/1")
    assert response.status_code == 500
    assert "retry-after" not in response.headers
    assert response.json()["detail"] == "The server failed to handle this request."
    assert "t_authors" not in response.text
    assert "keel db migrate" in caplog.text
    assert "t_authors" in caplog.text


def test_a_missing_table_in_debug_says_to_migrate(fresh_database_url: str) -> None:
    with TestClient(schema_app(fresh_database_url, debug=True)) as client:
        response = client.get("/authors/1")
    assert response.status_code == 500
    detail = response.json()["detail"]
    assert detail.startswith("SchemaError: The database has no table t_authors")
    assert "keel db migrate" in detail
    assert "create_all" in detail


def test_a_missing_column_in_debug_says_to_make_a_migration(fresh_database_url: str) -> None:
    asyncio.run(_sql(fresh_database_url, "CREATE TABLE t_authors (id INTEGER PRIMARY KEY)"))
    with TestClient(schema_app(fresh_database_url, debug=True)) as client:
        response = client.get("/authors/1")
    assert response.status_code == 500
    detail = response.json()["detail"]
    assert detail.startswith("SchemaError: The database has no column")
    assert "keel db makemigrations" in detail


def test_relationships_refuse_implicit_loading_by_default() -> None:
    assert Author.books.property.lazy == "raise_on_sql"
    assert Author.books.property.strategy_key == (("lazy", "keel_raise_on_sql"),)


async def _add_author(url: str) -> None:
    db = Database(url)
    async with db:
        await db.create_all()
        async with db.session() as session:
            session.add(Author(name="Ursula"))


def test_an_unloaded_relationship_is_a_500_naming_it(
    fresh_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    asyncio.run(_add_author(fresh_database_url))
    app = schema_app(fresh_database_url, debug=False)
    with TestClient(app) as client, caplog.at_level(logging.ERROR, logger="keel.db"):
        response = client.get("/authors/1/book-count")
    assert response.status_code == 500
    assert response.json()["detail"] == "The server failed to handle this request."
    assert "selectinload(Author.books)" in caplog.text
    with TestClient(schema_app(fresh_database_url, debug=True)) as client:
        detail = client.get("/authors/1/book-count").json()["detail"]
    assert detail.startswith("LazyLoadError: Author.books was not loaded")
    assert "load=[selectinload(Author.books)]" in detail


def test_an_unloaded_relationship_in_the_response_is_a_500_naming_it(
    fresh_database_url: str,
) -> None:
    asyncio.run(_add_author(fresh_database_url))
    app = schema_app(fresh_database_url, debug=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/authors/1/books")
    assert response.status_code == 500
    with TestClient(app) as client, pytest.raises(Exception) as raised:
        client.get("/authors/1/books")
    assert "LazyLoadError: Author.books was not loaded" in str(raised.value)
    assert "selectinload(Author.books)" in str(raised.value)


# PostgreSQL only: on SQLite, aiosqlite leaves the cursor coroutine that SQLAlchemy could
# not await un-awaited, and the warning surfaces in whichever test runs the garbage collector.
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_an_expired_attribute_read_in_async_code_is_explained(fresh_database_url: str) -> None:
    asyncio.run(_add_author(fresh_database_url))
    with TestClient(schema_app(fresh_database_url, debug=True)) as client:
        response = client.get("/authors/1/expired")
    assert response.status_code == 500
    detail = response.json()["detail"]
    assert detail.startswith("LazyLoadError: ")
    assert "Author." in detail


def test_explain_ignores_other_errors() -> None:
    assert explain(ValueError("x")) is None
    assert explain(InvalidRequestError("something else")) is None
    error = explain(InvalidRequestError("'Author.books' is not available due to lazy='raise'"))
    assert isinstance(error, LazyLoadError)
    assert not isinstance(error, SchemaError)
