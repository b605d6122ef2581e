"""Read by mypy only (``mypy --strict keel tests examples``): derived schemas are ordinary types.

pyproject enables ``keel.db.mypy``, so fields taken from a model have the columns' types.
"""

from __future__ import annotations

from typing import Annotated, Any, assert_type

from pydantic import Field, field_validator
from pydantic.alias_generators import to_camel
from sqlalchemy import ForeignKey, String, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from keel import App
from keel.db import IntPK, Model, NotBlank, Page, Schema, Session, apply, get_or_404, schema


class Writer(IntPK, Model):
    """A writer."""

    __tablename__ = "typing_writers"

    name: Mapped[str] = mapped_column(String(50))
    bio: Mapped[str | None]
    novels: Mapped[list[Novel]] = relationship(back_populates="writer")


class Novel(IntPK, Model):
    """A novel."""

    __tablename__ = "typing_novels"

    title: Mapped[str] = mapped_column(String(200))
    writer_id: Mapped[int] = mapped_column(ForeignKey("typing_writers.id"))
    writer: Mapped[Writer] = relationship(back_populates="novels")


# The class form: a type for annotations and a base class, with no type: ignore.
class NovelRead(Schema, model=Novel):
    pass


class WriterRead(Schema, model=Writer):
    name: str  # declared in the body: precisely typed (and replacing the column's field)


class WriterCreate(Schema, model=Writer, mode="create", constraints={"name": NotBlank}):
    pass


class WriterUpdate(Schema, model=Writer, mode="update", exclude={"bio"}):
    pass


class WriterDetail(WriterRead):
    novels: list[NovelRead]

    @field_validator("name")
    @classmethod
    def strip(cls, value: str) -> str:
        return value.strip()


# Aliases: camelCase on the wire, snake_case in Python.
class CamelWriter(Schema, model=Writer, alias_generator=to_camel):
    display_name: str = ""


# Constraints: a body declaration with Annotated, or constraints= without redeclaring.
class StrictWriter(Schema, model=Writer, mode="create", constraints={"bio": Field(min_length=10)}):
    name: Annotated[str, NotBlank, Field(max_length=50)]


WriterValue = schema(Writer)  # the function form still works as a value

app = App()


@app.get("/writers/{writer_id}")
async def get_writer(writer_id: int, session: Session) -> WriterDetail:
    return WriterDetail.model_validate(await get_or_404(session, Writer, writer_id))


@app.post("/writers", status_code=201)
async def create_writer(data: WriterCreate, session: Session) -> WriterRead:
    writer = data.apply(Writer())
    session.add(writer)
    await session.flush()
    return WriterRead.model_validate(writer)


@app.patch("/writers/{writer_id}")
async def update_writer(writer_id: int, data: WriterUpdate, session: Session) -> WriterRead:
    writer = apply(await get_or_404(session, Writer, writer_id), data)
    return WriterRead.model_validate(writer)


@app.get("/writers")
async def list_writers(session: Session) -> list[CamelWriter]:
    rows = await session.scalars(select(Writer))
    return [CamelWriter.model_validate(w) for w in rows]


async def use_them(session: Session, writer: Writer) -> None:
    detail = await get_writer(1, session)
    assert_type(detail, WriterDetail)
    assert_type(detail.name, str)
    assert_type(detail.novels, list[NovelRead])
    assert_type(detail.bio, str | None)  # taken from the column (keel.db.mypy)
    assert_type(detail.id, int)
    assert_type(detail.novels[0].writer_id, int)
    create = WriterCreate(name="A")
    assert_type(create.name, str)  # required in a create schema
    assert_type(create.bio, str | None)
    update = WriterUpdate()
    assert_type(update.name, str | None)  # partial: None when not sent
    assert_type(CamelWriter(name="x").name, str)
    assert_type(data_of(detail), dict[str, Any])
    assert_type(WriterUpdate(name="New").apply(writer), Writer)
    assert_type(apply(writer, WriterUpdate()), Writer)
    assert_type(CamelWriter(display_name="x").display_name, str)
    assert_type(StrictWriter(name="x").name, str)
    page: Page[WriterRead] = Page[WriterRead](items=[], total=0, limit=10, offset=0)
    assert_type(page.items, list[WriterRead])
    assert_type(WriterValue, type[Schema])


def data_of(value: WriterRead) -> dict[str, Any]:
    return value.model_dump()
