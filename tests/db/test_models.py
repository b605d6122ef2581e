"""The declarative base, mixins and column types, on both backends."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Enum, select, update

from keel import App
from keel.db import NAMING_CONVENTION, Model
from keel.db.testing import TestSession
from keel.testing import TestClient

from .db_test_models import Author, Book, Counter, Token, make_app
from .db_test_support import table_of


@pytest.fixture
def app(database_url: str) -> App:
    return make_app(database_url)


def test_naming_convention_names_every_constraint() -> None:
    assert Model.metadata.naming_convention == NAMING_CONVENTION
    names = {c.name for c in table_of(Author).constraints} | {
        i.name for i in table_of(Book).indexes
    }
    assert {"pk_t_authors", "uq_t_authors_name", "ix_t_books_author_id"} <= names
    fk = next(iter(table_of(Book).foreign_key_constraints))
    assert fk.name == "fk_t_books_author_id_t_authors"


def test_datetimes_come_back_aware_utc(db_client: TestClient, db_session: TestSession) -> None:
    paris = dt.datetime(2024, 6, 1, 14, 0, tzinfo=ZoneInfo("Europe/Paris"))
    author = Author(name="Tz", created_at=paris)
    db_session.add(author)
    db_session.flush()
    author_id = author.id
    db_session.expire_all()
    loaded = db_session.get(Author, author_id)
    assert loaded is not None
    assert loaded.created_at == paris
    assert loaded.created_at.tzinfo == dt.UTC
    assert loaded.created_at.hour == 12
    naive = Author(name="Naive", created_at=dt.datetime(2024, 1, 1, 8, 0))  # taken as UTC
    db_session.add(naive)
    db_session.flush()
    naive_id = naive.id
    db_session.expire_all()
    loaded_naive = db_session.get(Author, naive_id)
    assert loaded_naive is not None
    assert loaded_naive.created_at == dt.datetime(2024, 1, 1, 8, tzinfo=dt.UTC)


def test_updated_at_moves_on_update(db_session: TestSession) -> None:
    author = Author(name="Timed")
    db_session.add(author)
    db_session.flush()
    before = author.updated_at
    author.bio = "changed"
    db_session.flush()
    db_session.refresh(author)
    assert author.updated_at >= before
    assert author.created_at <= author.updated_at


def test_uuid_primary_key(db_session: TestSession) -> None:
    token = Token(label="t")
    db_session.add(token)
    db_session.flush()
    assert isinstance(token.id, uuid.UUID)
    assert db_session.scalar(select(Token.id).where(Token.label == "t")) == token.id
    assert repr(token) == f"<Token id={token.id!r}>"


def test_versioned_bumps_on_every_update(db_session: TestSession) -> None:
    counter = Counter()
    db_session.add(counter)
    db_session.flush()
    assert counter.version == 1
    counter.value = 3
    db_session.flush()
    assert counter.version == 2
    db_session.execute(update(Counter).where(Counter.id == counter.id).values(value=9))
    db_session.refresh(counter)
    assert counter.value == 9


def test_enum_stored_as_portable_string(db_session: TestSession) -> None:
    column = Book.__table__.c.genre
    assert isinstance(column.type, Enum)
    assert column.type.native_enum is False
    assert asyncio.iscoroutinefunction(db_session.session.flush)
