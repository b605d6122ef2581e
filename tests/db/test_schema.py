"""Schemas derived from models: one declaration for the table and the API."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal
from typing import Any

import pydantic
import pytest
from sqlalchemy import BigInteger, Numeric, SmallInteger, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from keel import App
from keel.db import TYPE_ANNOTATION_MAP, IntPK, Timestamps, apply, new_metadata, schema
from keel.db.testing import TestSession
from keel.testing import TestClient

from .db_test_models import Author, AuthorCreate, AuthorRead, AuthorUpdate, Book, Genre, make_app


class Base(DeclarativeBase):
    metadata = new_metadata()
    type_annotation_map = TYPE_ANNOTATION_MAP


class Status(enum.Enum):
    draft = "draft"
    live = "live"


class Everything(IntPK, Timestamps, Base):
    """Every kind of column."""

    __tablename__ = "everything"

    name: Mapped[str] = mapped_column(String(10))
    note: Mapped[str | None]
    small: Mapped[int] = mapped_column(SmallInteger, default=1)
    big: Mapped[int | None] = mapped_column(BigInteger)
    price: Mapped[Decimal] = mapped_column(Numeric(6, 2), server_default="0")
    ratio: Mapped[float | None]
    status: Mapped[Status] = mapped_column(default=Status.draft)
    when: Mapped[dt.date | None]
    ref: Mapped[uuid.UUID | None]
    active: Mapped[bool] = mapped_column(default=True, doc="Shown in listings")
    data: Mapped[dict[str, Any] | None]


def props(model: type[pydantic.BaseModel]) -> dict[str, Any]:
    return dict(model.model_json_schema()["properties"])


def test_read_schema_has_every_column_required() -> None:
    read = schema(Everything)
    assert read.__name__ == "EverythingRead"
    assert list(read.model_fields)[0] == "id"
    assert set(read.model_fields) == {c.key for c in Everything.__table__.columns}
    assert set(read.model_json_schema()["required"]) == set(read.model_fields)
    assert read.model_config["from_attributes"]


def test_create_schema_types_and_defaults() -> None:
    create = schema(Everything, mode="create")
    assert "id" not in create.model_fields
    assert "created_at" not in create.model_fields
    js = create.model_json_schema()
    assert js["required"] == ["name"]
    assert js["additionalProperties"] is False
    p = js["properties"]
    assert p["name"]["maxLength"] == 10
    assert p["small"]["default"] == 1
    assert (p["small"]["minimum"], p["small"]["maximum"]) == (-(2**15), 2**15 - 1)
    assert p["big"]["anyOf"][0]["maximum"] == 2**63 - 1
    assert "default" not in p["price"]  # server default: omitted means "database decides"
    assert p["active"]["description"] == "Shown in listings"
    assert p["status"]["default"] == "draft"
    assert js["$defs"]["Status"]["enum"] == ["draft", "live"]
    with pytest.raises(pydantic.ValidationError):
        create(name="x" * 11)
    with pytest.raises(pydantic.ValidationError):
        create(name="x", price="1234.567")  # 2 decimal places
    with pytest.raises(pydantic.ValidationError):
        create(name="x", ratio=float("nan"))
    with pytest.raises(pydantic.ValidationError):
        create(name="x", price=None)  # NOT NULL column
    with pytest.raises(pydantic.ValidationError):
        create(name="x", unknown=1)
    ok = create(name="x", note=None)
    assert ok.model_dump(exclude_unset=True) == {"name": "x", "note": None}


def test_update_schema_is_partial() -> None:
    update = schema(Everything, mode="update")
    assert update.__name__ == "EverythingUpdate"
    assert "required" not in update.model_json_schema()
    assert update().model_dump(exclude_unset=True) == {}
    with pytest.raises(pydantic.ValidationError):
        update(name=None)  # a NOT NULL column cannot be set to null
    assert update(note=None).model_dump(exclude_unset=True) == {"note": None}


def test_include_exclude_name_and_cache() -> None:
    summary = schema(Everything, include={"id", "name"}, name="EverythingSummary")
    assert list(summary.model_fields) == ["id", "name"]
    assert schema(Everything, exclude={"data"}) is schema(Everything, exclude={"data"})
    assert "data" not in schema(Everything, exclude={"data"}).model_fields
    with pytest.raises(ValueError, match="no column attribute named nope"):
        schema(Everything, exclude={"nope"})


def test_schema_subclass_adds_validators() -> None:
    class NameUpper(schema(Everything, mode="create")):  # type: ignore[misc]
        @pydantic.field_validator("name")
        @classmethod
        def upper(cls, v: str) -> str:
            return v.upper()

    assert NameUpper(name="abc").name == "ABC"  # type: ignore[attr-defined]


def test_apply_sets_only_sent_fields() -> None:
    author = Author(name="Old", bio="kept")
    apply(author, AuthorUpdate(name="New"))
    assert (author.name, author.bio) == ("New", "kept")


def test_enum_schema_from_model() -> None:
    assert schema(Book, mode="create").model_fields["genre"].default is Genre.novel


@pytest.fixture
def app(database_url: str) -> App:
    return make_app(database_url)


def test_returning_orm_objects(db_client: TestClient, db_session: TestSession) -> None:
    author = Author(name="Ursula", bio="Earthsea")
    db_session.add(author)
    db_session.flush()
    db_session.add_all([Book(title="A Wizard", author_id=author.id, pages=183)])
    db_session.flush()
    body = db_client.get(f"/authors/{author.id}").json()
    assert body["name"] == "Ursula"
    assert body["created_at"].endswith(("+00:00", "Z"))
    assert body["books"] == [
        {
            "id": body["books"][0]["id"],
            "title": "A Wizard",
            "pages": 183,
            "genre": "novel",
            "author_id": author.id,
        }
    ]
    assert [a["name"] for a in db_client.get("/authors-all").json()] == ["Ursula"]
    listed = db_client.get("/authors").json()
    assert listed["items"][0] == AuthorRead.model_validate(author).model_dump(mode="json")


def test_create_and_update_through_the_api(db_client: TestClient) -> None:
    created = db_client.post("/authors", json={"name": "Tove"})
    assert created.status_code == 201
    assert set(created.json()) == set(AuthorRead.model_fields)
    author_id = created.json()["id"]
    bad = db_client.post("/authors", json={"name": "x" * 51})
    assert bad.status_code == 422
    unknown = db_client.post("/authors", json={"name": "y", "id": 5})
    assert unknown.status_code == 422
    patched = db_client.patch(f"/authors/{author_id}", json={"bio": "Moomins"})
    assert patched.json()["bio"] == "Moomins"
    assert patched.json()["name"] == "Tove"
    assert db_client.delete(f"/authors/{author_id}").status_code == 204
    assert db_client.get(f"/authors/{author_id}").status_code == 404


def test_openapi_shows_derived_schemas(app: App) -> None:
    document = app.openapi()
    schemas = document["components"]["schemas"]
    assert {"AuthorRead", "AuthorCreate", "AuthorUpdate"} <= set(schemas)
    assert schemas["AuthorCreate"]["properties"]["name"]["maxLength"] == 50
    assert AuthorCreate.model_json_schema()["required"] == ["name"]
