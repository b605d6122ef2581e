"""keel.db.mypy: mypy sees the fields a Schema takes from its model, with the columns' types."""

from __future__ import annotations

from pathlib import Path

import pytest

api = pytest.importorskip("mypy.api", reason="mypy is a dev dependency")

SNIPPET = """
from __future__ import annotations

import datetime as dt

from sqlalchemy import String, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from keel.db import IntPK, Model, Schema, Timestamps


class Owner(IntPK, Model):
    __tablename__ = "mypy_owners"
    name: Mapped[str] = mapped_column(String(20))
    pets: Mapped[list[Pet]] = relationship(back_populates="owner")


class Pet(IntPK, Timestamps, Model):
    __tablename__ = "mypy_pets"
    name: Mapped[str] = mapped_column(String(20))
    legs: Mapped[int] = mapped_column(default=4)
    born: Mapped[dt.date] = mapped_column(server_default=func.current_date())
    owner_id: Mapped[int | None]
    owner: Mapped[Owner | None] = relationship(back_populates="pets")


class PetRead(Schema, model=Pet):
    pass


class PetCreate(Schema, model=Pet, mode="create", exclude={"owner_id"}):
    pass


class PetUpdate(Schema, model=Pet, mode="update"):
    name: str  # declared: wins over the column


class PetSummary(Schema, model=Pet, include={"id", "name"}):
    pass


def check(read: PetRead, create: PetCreate, update: PetUpdate, summary: PetSummary) -> PetRead:
    reveal_type(read.id)
    reveal_type(read.created_at)
    reveal_type(read.owner_id)
    reveal_type(create.name)
    reveal_type(create.legs)
    reveal_type(create.born)
    reveal_type(update.legs)
    reveal_type(update.name)
    create.id
    create.owner_id
    read.owner
    summary.legs
    read.nmae
    count: int = read.name
    return read
"""


def test_schema_fields_have_column_types(tmp_path: Path) -> None:
    (tmp_path / "snippet.py").write_text(SNIPPET)
    (tmp_path / "mypy.ini").write_text("[mypy]\nstrict = True\nplugins = keel.db.mypy\n")
    out, err, _status = api.run(
        [
            "--config-file",
            str(tmp_path / "mypy.ini"),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--no-error-summary",
            "--hide-error-context",
            str(tmp_path / "snippet.py"),
        ]
    )
    assert not err, err
    lines = [line.split(": ", 1)[1] for line in out.splitlines()]
    assert lines == [
        'note: Revealed type is "int"',
        'note: Revealed type is "datetime.datetime"',
        'note: Revealed type is "int | None"',
        'note: Revealed type is "str"',
        'note: Revealed type is "int"',  # a scalar default: never None
        'note: Revealed type is "datetime.date | None"',  # omitted: the database decides
        'note: Revealed type is "int | None"',  # partial
        'note: Revealed type is "str"',
        'error: "PetCreate" has no attribute "id"  [attr-defined]',  # auto-increment key
        'error: "PetCreate" has no attribute "owner_id"  [attr-defined]',  # excluded
        'error: "PetRead" has no attribute "owner"  [attr-defined]',  # a relationship
        'error: "PetSummary" has no attribute "legs"  [attr-defined]',  # not included
        'error: "PetRead" has no attribute "nmae"  [attr-defined]',
        'error: Incompatible types in assignment (expression has type "str", variable has '
        'type "int")  [assignment]',
    ]
