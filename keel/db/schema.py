"""Derive pydantic schemas (read / create / update) from a model's columns."""

from __future__ import annotations

import decimal
from collections.abc import Collection, Mapping
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, create_model
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Computed,
    Float,
    Identity,
    Integer,
    Numeric,
    SmallInteger,
    String,
    inspect,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import ColumnProperty, Mapper
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = ["Mode", "apply", "schema"]

Mode = Literal["read", "create", "update"]
T = TypeVar("T")

_INT_BOUNDS: tuple[tuple[type[TypeEngine[Any]], int], ...] = (
    (SmallInteger, 15),
    (BigInteger, 63),
    (Integer, 31),
)
_cache: dict[Any, type[BaseModel]] = {}


def schema(
    model: type[Any],
    *,
    mode: Mode = "read",
    include: Collection[str] | None = None,
    exclude: Collection[str] = (),
    partial: bool | None = None,
    name: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> type[BaseModel]:
    """Derive a pydantic model from a SQLAlchemy model's columns.

    Types, nullability, defaults, string lengths, numeric ranges and enum values
    come from the columns, so a field is declared once, on the model.

    Args:
        model: a mapped class (a ``keel.db.Model`` subclass).
        mode: ``"read"``: every column, all required, validated from ORM objects
            (use as a return annotation); ``"create"``: the columns a client may
            set (server-set columns such as autoincrement keys, timestamps and
            versions are left out), those with a default or NULL allowed are
            optional; ``"update"``: like create, every field optional.
        include: only these column attributes.
        exclude: leave out these column attributes.
        partial: make every field optional (the default for ``"update"``); an
            omitted field is left unset, see ``apply``.
        name: the schema's name (in OpenAPI); ``<Model><Mode>`` by default, e.g.
            ``AuthorRead``. Give one when deriving two variants for the same mode.
        extra: more fields that are not columns, e.g. a relationship:
            ``{"books": list[BookRead]}``; a value is a type or a ``(type, default)``.

    Returns:
        The pydantic model class (the same class for the same arguments).

    Example:
        AuthorRead = schema(Author)
        AuthorCreate = schema(Author, mode="create")
        AuthorUpdate = schema(Author, mode="update")
    """
    is_partial = mode == "update" if partial is None else partial
    schema_name = name or f"{model.__name__}{mode.capitalize()}"
    key = (
        model,
        mode,
        None if include is None else frozenset(include),
        frozenset(exclude),
        is_partial,
        schema_name,
        _freeze(extra),
    )
    cached = _cache.get(key) if key[-1] is not None else None
    if cached is not None:
        return cached
    mapper: Mapper[Any] = inspect(model)
    fields: dict[str, Any] = {}
    known: set[str] = set()
    for prop in sorted(mapper.column_attrs, key=_primary_key_first):
        known.add(prop.key)
        if include is not None and prop.key not in include:
            continue
        if prop.key in exclude:
            continue
        column = _single_column(prop)
        if column is None:
            continue
        if mode != "read" and _is_server_set(column, mapper):
            continue
        fields[prop.key] = _field(column, mode, is_partial)
    unknown = {*(include or ()), *exclude} - known
    if unknown:
        raise ValueError(
            f"schema({model.__name__}): no column attribute named {', '.join(sorted(unknown))}"
        )
    for field_name, spec in (extra or {}).items():
        if isinstance(spec, tuple):
            fields[field_name] = spec
        else:
            fields[field_name] = (spec, None) if is_partial else (spec, ...)
    config = ConfigDict(
        from_attributes=True,
        extra="ignore" if mode == "read" else "forbid",
        title=schema_name,
    )
    derived: type[BaseModel] = create_model(
        schema_name, __config__=config, __doc__=_doc(model, mode), **fields
    )
    derived.__module__ = model.__module__
    if key[-1] is not None:
        _cache[key] = derived
    return derived


def apply(obj: T, data: BaseModel) -> T:
    """Set the fields a client sent (``exclude_unset``) on an ORM object.

    Example:
        apply(author, AuthorUpdate(name="New"))  # other columns untouched
    """
    for key in data.model_fields_set:
        setattr(obj, key, getattr(data, key))
    return obj


def _freeze(extra: Mapping[str, Any] | None) -> Any:
    if not extra:
        return ()
    try:
        frozen = tuple(sorted(extra.items()))
        hash(frozen)
    except TypeError:
        return None
    return frozen


def _primary_key_first(prop: ColumnProperty[Any]) -> int:
    return 0 if any(getattr(c, "primary_key", False) for c in prop.columns) else 1


def _single_column(prop: ColumnProperty[Any]) -> Column[Any] | None:
    if len(prop.columns) != 1 or not isinstance(prop.columns[0], Column):
        return None
    return prop.columns[0]


def _is_server_set(column: Column[Any], mapper: Mapper[Any]) -> bool:
    if column.info.get("keel_read_only"):
        return True
    if mapper.version_id_col is not None and column is mapper.version_id_col:
        return True
    if isinstance(column.server_default, Computed | Identity) or column.computed is not None:
        return True
    if column.primary_key:
        if column.default is not None or column.server_default is not None:
            return True
        table = column.table
        return column is table.autoincrement_column
    return False


def _doc(model: type[Any], mode: Mode) -> str:
    summary = (model.__doc__ or "").strip().splitlines()
    first = summary[0] if summary else model.__name__
    return f"{first} ({mode})"


def _field(column: Column[Any], mode: Mode, partial: bool) -> tuple[Any, Any]:
    annotation = _annotation(column)
    description = column.comment or column.doc
    if column.nullable:
        annotation = annotation | None
    if mode == "read":
        return annotation, Field(..., description=description)
    if partial:
        return annotation, _optional(None, column.nullable, description)
    default = column.default
    if default is not None and default.is_scalar:
        return annotation, Field(default.arg, description=description)  # type: ignore[attr-defined]
    if default is not None or column.server_default is not None or column.nullable:
        return annotation, _optional(None, column.nullable, description)
    return annotation, Field(..., description=description)


def _optional(value: Any, nullable: bool | None, description: str | None) -> Any:
    if nullable:
        return Field(value, description=description)
    # Omitted means "let the database decide"; an explicit null is still rejected.
    return Field(value, description=description, json_schema_extra=_drop_default)


def _drop_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def _annotation(column: Column[Any]) -> Any:
    col_type: TypeEngine[Any] = column.type
    while isinstance(col_type, TypeDecorator):
        col_type = col_type.impl_instance
    if isinstance(col_type, SAEnum):
        if col_type.enum_class is not None:
            return col_type.enum_class
        return Literal[tuple(col_type.enums)]
    if isinstance(col_type, JSON):
        return Any
    if isinstance(col_type, String):
        return Annotated[str, Field(max_length=col_type.length)] if col_type.length else str
    for int_type, bits in _INT_BOUNDS:
        if isinstance(col_type, int_type):
            return Annotated[int, Field(ge=-(2**bits), le=2**bits - 1)]
    if isinstance(col_type, Float):
        return Annotated[float, Field(allow_inf_nan=False)]
    if isinstance(col_type, Numeric):
        if not col_type.asdecimal:
            return Annotated[float, Field(allow_inf_nan=False)]
        digits, places = col_type.precision, col_type.scale
        return Annotated[
            decimal.Decimal,
            Field(max_digits=digits, decimal_places=places, allow_inf_nan=False),
        ]
    try:
        return column.type.python_type
    except NotImplementedError:
        return Any
