"""The declarative base for keel models and the common column mixins."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal
from typing import Any, NoReturn

from sqlalchemy import JSON, Enum, MetaData, Numeric, Uuid, event
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Mapper,
    RelationshipProperty,
    declared_attr,
    mapped_column,
)
from sqlalchemy.orm.strategies import _LazyLoader

from keel.db.diagnostics import LazyLoadError, lazy_load_message
from keel.db.types import UTCDateTime

__all__ = [
    "NAMING_CONVENTION",
    "READ_ONLY",
    "TYPE_ANNOTATION_MAP",
    "IntPK",
    "Model",
    "Timestamps",
    "UUIDPK",
    "Versioned",
    "new_metadata",
]

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Constraint names derived from tables and columns, so migrations are stable."""

READ_ONLY: dict[str, Any] = {"keel_read_only": True}
"""Column ``info`` marking a column the server sets: left out of create/update schemas."""

TYPE_ANNOTATION_MAP: dict[Any, Any] = {
    dt.datetime: UTCDateTime(),
    uuid.UUID: Uuid(),
    Decimal: Numeric(),
    dict[str, Any]: JSON(),
    list[Any]: JSON(),
    enum.Enum: Enum(enum.Enum, native_enum=False, validate_strings=True),
}
"""How ``Mapped[...]`` annotations become column types (aware datetimes, portable enums)."""


def new_metadata() -> MetaData:
    """Return an empty ``MetaData`` carrying keel's constraint naming convention."""
    return MetaData(naming_convention=NAMING_CONVENTION)


class Model(AsyncAttrs, DeclarativeBase):
    """Base class of keel models: a SQLAlchemy 2 declarative base.

    Declare columns with ``Mapped[...]`` annotations. The base carries the
    naming convention and portable type defaults. Relationships default to
    ``lazy="raise_on_sql"``: reading one that the query did not load is an error
    naming it (load it with ``selectinload``), never a hidden query; pass another
    ``lazy=`` to a relationship, or set ``__default_lazy__`` on a model, to change
    that. For a second, independent set of tables declare another base the same
    way (``metadata = new_metadata()``, ``type_annotation_map = TYPE_ANNOTATION_MAP``).

    Example:
        class Author(IntPK, Timestamps, Model):
            __tablename__ = "authors"
            name: Mapped[str] = mapped_column(String(100), unique=True)
    """

    metadata = new_metadata()
    type_annotation_map = TYPE_ANNOTATION_MAP
    __default_lazy__: str = "raise_on_sql"

    def __repr__(self) -> str:
        mapper = self.__mapper__
        keys = ", ".join(
            f"{col.key}={getattr(self, str(col.key), None)!r}" for col in mapper.primary_key
        )
        return f"<{type(self).__name__} {keys}>"


_EXPLAINED_RAISE_ON_SQL = "keel_raise_on_sql"


@RelationshipProperty.strategy_for(lazy=_EXPLAINED_RAISE_ON_SQL)
class _ExplainedRaiseOnSQL(_LazyLoader):
    """SQLAlchemy's ``raise_on_sql`` loader, raising an error that says what to load."""

    __slots__ = ()

    def __init__(self, parent: Any, strategy_key: Any) -> None:
        super().__init__(parent, strategy_key)
        self._raise_on_sql = True

    def _invoke_raise_load(self, state: Any, passive: Any, lazy: Any) -> NoReturn:
        raise LazyLoadError(lazy_load_message(str(self)))


@event.listens_for(Model, "after_mapper_constructed", propagate=True)
def _default_lazy(mapper: Mapper[Any], cls: type[Any]) -> None:
    """Relationships left at SQLAlchemy's ``lazy="select"`` get the model's default."""
    lazy: Any = getattr(cls, "__default_lazy__", "select")
    if lazy == "select":
        return
    for prop in mapper._props.values():
        if isinstance(prop, RelationshipProperty) and prop.lazy == "select":
            prop.lazy = lazy
            key = _EXPLAINED_RAISE_ON_SQL if lazy == "raise_on_sql" else lazy
            prop.strategy_key = (("lazy", key),)


class IntPK:
    """Mixin: an auto-incrementing integer primary key named ``id``."""

    id: Mapped[int] = mapped_column(primary_key=True)


class UUIDPK:
    """Mixin: a random UUID (v4) primary key named ``id``, generated in Python."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Timestamps:
    """Mixin: ``created_at`` and ``updated_at``, aware UTC datetimes set by keel."""

    created_at: Mapped[dt.datetime] = mapped_column(default=_utcnow, info=READ_ONLY)
    updated_at: Mapped[dt.datetime] = mapped_column(
        default=_utcnow, onupdate=_utcnow, info=READ_ONLY
    )


class Versioned:
    """Mixin: an integer ``version`` column for optimistic locking.

    Every UPDATE checks and bumps the version (``UPDATE ... WHERE version = :seen``);
    a write based on a stale read raises ``StaleDataError``, which
    ``Database.init_app`` turns into a 409 problem response. Use
    ``expect_version(obj, version)`` to check a version the client sent.
    """

    version: Mapped[int] = mapped_column(nullable=False, info=READ_ONLY)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"version_id_col": cls.__table__.c.version}  # type: ignore[attr-defined]
