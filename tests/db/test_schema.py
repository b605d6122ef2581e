"""Schemas derived from models: one declaration for the table and the API."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal
from typing import Annotated, Any

import pydantic
import pytest
from pydantic.alias_generators import to_camel
from sqlalchemy import BigInteger, Numeric, SmallInteger, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, selectinload

from keel import App
from keel.db import (
    TYPE_ANNOTATION_MAP,
    IntPK,
    NotBlank,
    Schema,
    Session,
    Timestamps,
    apply,
    get_or_404,
    new_metadata,
    schema,
)
from keel.db.schema import SchemaMeta
from keel.db.testing import TestSession
from keel.testing import TestClient

from .db_test_models import (
    Author,
    AuthorCreate,
    AuthorRead,
    AuthorUpdate,
    AuthorWithBooks,
    Book,
    Genre,
    make_app,
)


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

    assert NameUpper(name="abc").name == "ABC"


def test_apply_sets_only_sent_fields() -> None:
    author = Author(name="Old", bio="kept")
    apply(author, AuthorUpdate(name="New"))
    assert (author.name, author.bio) == ("New", "kept")


def test_enum_schema_from_model() -> None:
    assert schema(Book, mode="create").model_fields["genre"].default is Genre.novel


@pytest.fixture
def app(database_url: str) -> App:
    app = make_app(database_url)
    add_class_form_routes(app)
    return app


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


def test_apply_skips_fields_that_are_not_columns() -> None:
    author = Author(name="Old")
    book = {"id": 1, "title": "T", "pages": 1, "genre": "novel", "author_id": 1}
    data = AuthorWithBooks(
        id=1, name="New", email=None, bio=None, created_at=NOW, updated_at=NOW, books=[book]
    )
    apply(author, data)  # `books` is a relationship: it used to be set to a list of schemas
    assert author.name == "New"
    assert author.books == []


NOW = dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)


# -- the class form --------------------------------------------------------------------------


class BookOut(Schema, model=Book, alias_generator=to_camel):
    """A book, camelCase."""


class AuthorOut(Schema, model=Author, alias_generator=to_camel):
    """A writer, camelCase."""


class AuthorOutWithBooks(AuthorOut):
    """A writer and their books."""

    books: list[BookOut]


class AuthorIn(
    Schema, model=Author, mode="create", alias_generator=to_camel, constraints={"name": NotBlank}
):
    """A new writer."""


class AuthorPatch(
    Schema, model=Author, mode="update", alias_generator=to_camel, constraints={"name": NotBlank}
):
    """Changes to a writer."""


def add_class_form_routes(app: App) -> None:
    @app.post("/v2/authors", status_code=201)
    async def create(data: AuthorIn, session: Session) -> AuthorOut:
        author = data.apply(Author())
        session.add(author)
        await session.flush()
        return AuthorOut.model_validate(author)

    @app.get("/v2/authors/{author_id}")
    async def read(author_id: int, session: Session) -> AuthorOutWithBooks:
        options = [selectinload(Author.books)]
        author = await get_or_404(session, Author, author_id, options=options)
        return AuthorOutWithBooks.model_validate(author)

    @app.patch("/v2/authors/{author_id}", response_model=AuthorOut)
    async def update(author_id: int, data: AuthorPatch, session: Session) -> Author:
        author = data.apply(await get_or_404(session, Author, author_id))
        await session.flush()
        return author  # the ORM object, validated against response_model

    @app.post("/v2/echo")
    async def echo(data: AuthorOut) -> AuthorOut:
        return data


@pytest.mark.parametrize("mode", ["read", "create", "update"])
def test_class_form_matches_the_function(mode: Any) -> None:
    class Derived(Schema, model=Everything, mode=mode):
        pass

    function = schema(Everything, mode=mode)
    assert list(Derived.model_fields) == list(function.model_fields)
    ours, theirs = Derived.model_json_schema(), function.model_json_schema()
    assert ours["properties"] == theirs["properties"]
    assert ours.get("required") == theirs.get("required")
    assert ours.get("additionalProperties") == theirs.get("additionalProperties")
    assert Derived.__doc__ == f"Every kind of column. ({mode})"
    assert isinstance(function, type) and issubclass(function, Schema)


def test_class_form_include_exclude_partial() -> None:
    class Summary(Schema, model=Everything, include={"id", "name"}):
        pass

    class NoData(Schema, model=Everything, exclude={"data", "ref"}):
        pass

    class Patch(Schema, model=Everything, mode="create", partial=True):
        pass

    assert list(Summary.model_fields) == ["id", "name"]
    assert {"data", "ref"}.isdisjoint(NoData.model_fields)
    assert "required" not in Patch.model_json_schema()
    assert Patch().model_dump(exclude_unset=True) == {}


def test_body_declarations_replace_and_add_fields_in_place() -> None:
    class Custom(Schema, model=Author):
        """Custom docs."""

        name: str  # replaces the column's field: no max length any more
        shout: str = ""

        @pydantic.field_validator("shout")
        @classmethod
        def upper(cls, value: str) -> str:
            return value.upper()

    assert list(Custom.model_fields) == [
        "id",
        "name",
        "email",
        "bio",
        "created_at",
        "updated_at",
        "shout",
    ]
    assert Custom.__doc__ == "Custom docs."
    made = Custom(
        id=1, name="x" * 80, email=None, bio=None, created_at=NOW, updated_at=NOW, shout="hi"
    )
    assert (made.name, made.shout) == ("x" * 80, "HI")
    assert Custom.model_json_schema()["description"] == "Custom docs."


def test_subclass_of_a_derived_schema_keeps_its_fields() -> None:
    class WithBooks(AuthorOut):
        books: list[BookOut] = []

    assert list(WithBooks.model_fields)[-1] == "books"
    assert WithBooks.__keel_model__ is Author
    assert WithBooks.model_config["alias_generator"] is to_camel


def test_forward_references_resolve_in_a_function() -> None:
    class Outer(Schema, model=Book):
        writer: Inner

    class Inner(Schema, model=Author, include={"id", "name"}):
        pass

    Outer.model_rebuild()
    outer = Outer(
        id=1, title="t", pages=1, genre=Genre.novel, author_id=2, writer={"id": 2, "name": "n"}
    )
    assert outer.writer.name == "n"


def test_constraints_add_to_the_column_field() -> None:
    class Strict(
        Schema,
        model=Author,
        mode="create",
        constraints={"name": NotBlank, "bio": pydantic.Field(min_length=3), "email": [NotBlank]},
    ):
        pass

    props_ = Strict.model_json_schema()["properties"]
    assert props_["name"] == {
        "maxLength": 50,  # still the column's
        "minLength": 1,
        "pattern": "\\S",
        "title": "Name",
        "type": "string",
        "description": "Full name",
    }
    assert props_["bio"]["anyOf"][0] == {"minLength": 3, "type": "string"}
    for bad in ["", "  \t", "x" * 51]:
        with pytest.raises(pydantic.ValidationError):
            Strict(name=bad)
    with pytest.raises(pydantic.ValidationError, match="String should not be blank"):
        Strict(name=" ")
    with pytest.raises(pydantic.ValidationError, match="at least 3 characters"):
        Strict(name="ok", bio="ab")
    assert Strict(name="ok", bio=None, email=None).bio is None  # NULL still allowed
    assert Strict(name=" ok ").name == " ok "  # checked, not rewritten


def test_constraints_in_an_annotated_declaration() -> None:
    class Strict(Schema, model=Author, mode="create"):
        name: Annotated[str, NotBlank, pydantic.Field(max_length=50)]

    with pytest.raises(pydantic.ValidationError, match="String should not be blank"):
        Strict(name="   ")
    assert Strict.model_json_schema()["properties"]["name"]["pattern"] == "\\S"


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"mode": "read"}, TypeError, "mode= only apply with model="),
        ({"model": Author, "mode": "replace"}, ValueError, "mode must be one of"),
        ({"model": int}, TypeError, "must be a mapped class"),
        ({"model": Author, "exclude": {"nope"}}, ValueError, "no column attribute named nope"),
        ({"model": Author, "constraints": {"nope": NotBlank}}, ValueError, "named nope"),
        (
            {"model": Author, "mode": "create", "constraints": {"id": NotBlank}},
            ValueError,
            "leaves out",
        ),
        ({"model": Author, "exlude": {"bio"}}, TypeError, "keyword"),
    ],
)
def test_class_keyword_mistakes_are_clear(
    options: dict[str, Any], error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        SchemaMeta("Broken", (Schema,), {"__module__": __name__}, **options)


def test_constraint_on_a_declared_field_is_refused() -> None:
    with pytest.raises(TypeError, match="put the constraint on the declaration"):

        class Both(Schema, model=Author, constraints={"name": NotBlank}):
            name: str


def test_aliases_in_and_out() -> None:
    by_alias = AuthorIn.model_validate({"name": "Ann", "bio": "b"})
    assert by_alias.name == "Ann"
    out = AuthorOut(id=1, name="Ann", email=None, bio=None, created_at=NOW, updated_at=NOW)
    assert (
        AuthorOut.model_validate(
            {"id": 1, "name": "A", "email": None, "bio": None, "createdAt": NOW, "updatedAt": NOW}
        ).created_at
        == NOW
    )
    dumped = pydantic.TypeAdapter(AuthorOut).dump_python(out, mode="json")
    assert set(dumped) == {"id", "name", "email", "bio", "createdAt", "updatedAt"}
    assert "createdAt" in out.model_dump()
    assert "created_at" in out.model_dump(by_alias=False)
    js = AuthorOut.model_json_schema(mode="serialization")
    assert "createdAt" in js["properties"]


def test_schema_apply_partial_writes_only_what_was_sent() -> None:
    author = Author(name="Old", bio="kept", email="e@x")
    patch = AuthorPatch.model_validate({"bio": None})
    assert patch.apply(author) is author
    assert (author.name, author.bio, author.email) == ("Old", None, "e@x")


def test_schema_apply_full_writes_defaults_but_not_database_defaults() -> None:
    class EverythingCreate(Schema, model=Everything, mode="create"):
        pass

    row = EverythingCreate(name="n").apply(Everything())
    assert (row.name, row.small, row.status, row.active) == ("n", 1, Status.draft, True)
    assert row.note is None  # omitted nullable column: NULL, as the document's default says
    assert "price" not in vars(row)  # server default: left to the database


def test_apply_on_a_class_that_is_not_mapped() -> None:
    with pytest.raises(TypeError, match="not a mapped class"):
        AuthorPatch(name="x").apply(object())


def test_class_form_through_the_app(db_client: TestClient, db_session: TestSession) -> None:
    created = db_client.post("/v2/authors", json={"name": "Tove", "bio": "Moomins"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) == {"id", "name", "email", "bio", "createdAt", "updatedAt"}
    blank = db_client.post("/v2/authors", json={"name": "   "})
    assert blank.status_code == 422
    assert "blank" in blank.text
    author = db_session.get(Author, body["id"])
    assert author is not None
    db_session.add(Book(title="Comet", author_id=author.id, pages=10))
    db_session.flush()
    detail = db_client.get(f"/v2/authors/{author.id}").json()
    assert detail["books"] == [
        {
            "id": detail["books"][0]["id"],
            "title": "Comet",
            "pages": 10,
            "genre": "novel",
            "authorId": author.id,
        }
    ]
    patched = db_client.patch(f"/v2/authors/{author.id}", json={"bio": None})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["name"], patched.json()["bio"]) == ("Tove", None)
    by_name = db_client.post("/v2/echo", json={**body, "created_at": body["createdAt"]})
    assert by_name.json() == body  # accepted by field name too, answered by alias


def test_openapi_names_are_the_class_names(app: App) -> None:
    first = app.openapi()
    schemas = first["components"]["schemas"]
    assert {"AuthorOut", "AuthorOutWithBooks", "AuthorIn", "AuthorPatch", "BookOut"} <= set(schemas)
    assert not any(name.startswith(("AuthorOut-", "AuthorIn-")) for name in schemas)
    assert "createdAt" in schemas["AuthorOut"]["properties"]
    assert schemas["AuthorIn"]["properties"]["name"]["pattern"] == "\\S"
    assert schemas["AuthorOut"]["description"] == "A writer, camelCase."
    again = make_app("sqlite+aiosqlite://")
    add_class_form_routes(again)
    assert again.openapi()["components"]["schemas"] == schemas
