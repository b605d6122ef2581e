"""From a mapped class's columns to pydantic field declarations."""

from __future__ import annotations

import decimal
from collections.abc import Collection, Mapping
from typing import Annotated, Any, Literal

from pydantic import Field
from pydantic.fields import FieldInfo
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
from sqlalchemy.exc import NoInspectionAvailable
from sqlalchemy.orm import ColumnProperty, Mapper
from sqlalchemy.types import TypeDecorator, TypeEngine

Mode = Literal["read", "create", "update"]
MODES: tuple[Mode, ...] = ("read", "create", "update")

_INT_BOUNDS: tuple[tuple[type[TypeEngine[Any]], int], ...] = (
    (SmallInteger, 15),
    (BigInteger, 63),
    (Integer, 31),
)


def derive(
    model: type[Any],
    *,
    mode: Mode,
    include: Collection[str] | None,
    exclude: Collection[str],
    partial: bool,
    constraints: Mapping[str, Any],
    owner: str,
) -> dict[str, tuple[Any, FieldInfo]]:
    """The ``{name: (annotation, FieldInfo)}`` of the columns a schema of ``mode`` has.

    Args:
        model: the mapped class.
        mode: read, create or update (server-set columns are left out of the last two).
        include: only these column attributes (``None``: all).
        exclude: leave out these column attributes.
        partial: every field optional, unset when omitted.
        constraints: more ``Annotated`` metadata per field, e.g. ``Field(min_length=1)``
            (one object, or a list or tuple of them).
        owner: the schema's name, for error messages.

    Raises:
        TypeError: ``model`` is not a mapped class.
        ValueError: an unknown mode, or a name that is no column attribute, or a constraint
            for a field the schema does not have.
    """
    if mode not in MODES:
        raise ValueError(f"{owner}: mode must be one of {', '.join(MODES)}, not {mode!r}")
    try:
        mapper: Mapper[Any] = inspect(model)
    except NoInspectionAvailable:
        raise TypeError(f"{owner}: model= must be a mapped class, not {model!r}") from None
    fields: dict[str, tuple[Any, FieldInfo]] = {}
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
        extra = constraints.get(prop.key, ())
        metadata = tuple(extra) if isinstance(extra, list | tuple) else (extra,)
        fields[prop.key] = _field(column, mode, partial, metadata)
    unknown = {*(include or ()), *exclude, *constraints} - known
    if unknown:
        raise ValueError(
            f"{owner}: {model.__name__} has no column attribute named {', '.join(sorted(unknown))}"
        )
    missing = set(constraints) - set(fields)
    if missing:
        raise ValueError(
            f"{owner}: constraints for {', '.join(sorted(missing))}, which the schema leaves out"
        )
    return fields


def is_database_default(info: FieldInfo) -> bool:
    """Whether an omitted field means "let the database decide" (not a value to write)."""
    return info.json_schema_extra is _drop_default


def model_doc(model: type[Any], mode: Mode) -> str:
    """A schema's docstring: the first line of the model's, and the mode."""
    summary = (model.__doc__ or "").strip().splitlines()
    first = summary[0] if summary else model.__name__
    return f"{first} ({mode})"


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


def _field(
    column: Column[Any], mode: Mode, partial: bool, metadata: tuple[Any, ...]
) -> tuple[Any, FieldInfo]:
    annotation = _annotation(column)
    if metadata:
        annotation = Annotated[(annotation, *metadata)]
    description = column.comment or column.doc
    if column.nullable:
        annotation = annotation | None
    info: Any
    if mode == "read":
        info = Field(..., description=description)
    elif partial:
        info = _optional(column.nullable, description)
    elif column.default is not None and column.default.is_scalar:
        info = Field(column.default.arg, description=description)  # type: ignore[attr-defined]
    elif column.default is not None or column.server_default is not None or column.nullable:
        info = _optional(column.nullable, description)
    else:
        info = Field(..., description=description)
    return annotation, info


def _optional(nullable: bool | None, description: str | None) -> Any:
    info: Any
    if nullable:
        info = Field(None, description=description)
    else:
        # Omitted means "let the database decide"; an explicit null is still rejected.
        info = Field(None, description=description, json_schema_extra=_drop_default)
    return info


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
