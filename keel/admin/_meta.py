"""What the admin knows about a model, worked out once when it is registered."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from markupsafe import Markup, escape
from sqlalchemy import Boolean, Column, Date, DateTime, Enum, String, Text, inspect
from sqlalchemy.orm import Mapper, RelationshipProperty
from sqlalchemy.types import TypeDecorator, TypeEngine

from keel.auth.users import app_label_of

__all__ = ["ColumnMeta", "ModelMeta", "display_value", "object_label", "text_value"]

_NAME_COLUMNS = ("name", "title", "email", "username", "label", "slug", "text")


@dataclass
class ColumnMeta:
    """One column of a model, as the admin uses it."""

    key: str
    column: Column[Any]
    label: str
    kind: str  # text, bool, int, number, date, datetime, enum, fk, json, other
    nullable: bool
    is_url: bool = False
    fk_target: type[Any] | None = None
    fk_relationship: str | None = None
    choices: tuple[tuple[str, str], ...] = ()


@dataclass
class ModelMeta:
    """A registered model's columns, relationships, names and primary key."""

    model: type[Any]
    app_label: str
    model_name: str
    verbose_name: str
    verbose_name_plural: str
    pk: ColumnMeta
    columns: dict[str, ColumnMeta]
    many_to_one: dict[str, ColumnMeta] = field(default_factory=dict)
    """relationship name -> its foreign key column"""
    version_key: str | None = None

    @classmethod
    def of(cls, model: type[Any], url_fields: tuple[str, ...] = ()) -> ModelMeta:
        mapper: Mapper[Any] = inspect(model)
        if len(mapper.primary_key) != 1:
            raise TypeError(
                f"keel.admin needs a single-column primary key; {model.__name__} has "
                f"{len(mapper.primary_key)}"
            )
        columns: dict[str, ColumnMeta] = {}
        for prop in mapper.column_attrs:
            if len(prop.columns) != 1 or not isinstance(prop.columns[0], Column):
                continue
            column = prop.columns[0]
            columns[prop.key] = _column_meta(prop.key, column, url_fields)
        many_to_one: dict[str, ColumnMeta] = {}
        for rel in mapper.relationships:
            if rel.direction.name != "MANYTOONE" or len(rel.local_columns) != 1:
                continue
            local = next(iter(rel.local_columns))
            for meta in columns.values():
                if meta.column is local:
                    meta.kind = "fk"
                    meta.fk_target = rel.mapper.class_
                    meta.fk_relationship = rel.key
                    many_to_one[rel.key] = meta
        for meta in columns.values():
            if meta.kind != "fk" and meta.column.foreign_keys:
                target = _mapped_class_of(mapper, next(iter(meta.column.foreign_keys)).column.table)
                if target is not None:
                    meta.kind, meta.fk_target = "fk", target
            auto = meta.key.replace("_", " ").capitalize()
            if meta.kind == "fk" and meta.label == auto:
                name = meta.fk_relationship or meta.key.removesuffix("_id")
                meta.label = name.replace("_", " ").capitalize()
        pk_column = mapper.primary_key[0]
        pk = next(m for m in columns.values() if m.column is pk_column)
        version_key = None
        if mapper.version_id_col is not None:
            version_key = mapper.get_property_by_column(mapper.version_id_col).key
        name = model.__name__
        words = _words(name)
        return cls(
            model=model,
            app_label=app_label_of(model),
            model_name=name.lower(),
            verbose_name=getattr(model, "__verbose_name__", words),
            verbose_name_plural=getattr(model, "__verbose_name_plural__", _plural(words)),
            pk=pk,
            columns=columns,
            many_to_one=many_to_one,
            version_key=version_key,
        )

    def parse_pk(self, raw: str) -> Any:
        """The primary key value of a path segment, or ``None`` when it cannot be one."""
        kind = self.pk.kind
        try:
            if kind in ("int", "fk"):
                if not raw.isascii() or not raw.lstrip("-").isdigit() or len(raw) > 19:
                    return None
                return int(raw)
            python_type = _python_type(self.pk.column)
            if python_type is uuid.UUID:
                return uuid.UUID(raw)
        except ValueError:
            return None
        return raw if len(raw) <= 255 else None

    def pk_of(self, obj: Any) -> Any:
        return getattr(obj, self.pk.key)


def _words(name: str) -> str:
    out = []
    for i, char in enumerate(name):
        if char.isupper() and i and not name[i - 1].isupper():
            out.append(" ")
        out.append(char.lower())
    return "".join(out)


def _plural(words: str) -> str:
    if words.endswith(("s", "x", "ch", "sh")):
        return words + "es"
    if words.endswith("y") and words[-2:-1] not in "aeiou":
        return words[:-1] + "ies"
    return words + "s"


def _mapped_class_of(mapper: Mapper[Any], table: Any) -> type[Any] | None:
    for other in mapper.registry.mappers:
        if other.local_table is table:
            found: type[Any] = other.class_
            return found
    return None


def _python_type(column: Column[Any]) -> Any:
    try:
        return column.type.python_type
    except NotImplementedError:
        return None


def _base_type(column: Column[Any]) -> TypeEngine[Any]:
    col_type: TypeEngine[Any] = column.type
    while isinstance(col_type, TypeDecorator):
        if isinstance(col_type.impl_instance, DateTime):
            return col_type.impl_instance
        col_type = col_type.impl_instance
    return col_type


def _column_meta(key: str, column: Column[Any], url_fields: tuple[str, ...]) -> ColumnMeta:
    col_type = _base_type(column)
    python_type = _python_type(column)
    choices: tuple[tuple[str, str], ...] = ()
    if isinstance(col_type, Enum):
        kind = "enum"
        if col_type.enum_class is not None:
            choices = tuple(
                (str(m.value), m.name.replace("_", " ").capitalize()) for m in col_type.enum_class
            )
        else:
            choices = tuple((v, v) for v in col_type.enums)
    elif isinstance(col_type, Boolean):
        kind = "bool"
    elif isinstance(col_type, DateTime):
        kind = "datetime"
    elif isinstance(col_type, Date):
        kind = "date"
    elif isinstance(col_type, Text) or (isinstance(col_type, String) and not col_type.length):
        kind = "longtext"
    elif isinstance(col_type, String):
        kind = "text"
    elif python_type is int:
        kind = "int"
    elif python_type in (float, decimal.Decimal):
        kind = "number"
    elif python_type in (dict, list):
        kind = "json"
    else:
        kind = "other"
    lowered = key.lower()
    is_url = kind in ("text", "longtext") and (
        key in url_fields or lowered in ("url", "website", "homepage") or lowered.endswith("_url")
    )
    label = (column.info.get("label") if column.info else None) or key.replace("_", " ")
    return ColumnMeta(
        key=key,
        column=column,
        label=label.capitalize() if label == key.replace("_", " ") else label,
        kind=kind,
        nullable=bool(column.nullable),
        is_url=is_url,
        choices=choices,
    )


def object_label(obj: Any) -> str:
    """How an object is named on the pages: its ``__str__``, a name-like column, or
    ``"<Model> <pk>"``."""
    if obj is None:
        return ""
    own_str: Any = type(obj).__str__
    if own_str is not object.__str__:
        return str(obj)
    for key in _NAME_COLUMNS:
        value = obj.__dict__.get(key)
        if isinstance(value, str) and value:
            return value
    mapper = inspect(type(obj))
    pk = mapper.get_property_by_column(mapper.primary_key[0]).key
    return f"{type(obj).__name__} {obj.__dict__.get(pk)}"


def text_value(value: Any) -> str | None:
    """A value as text for the audit log (``None`` stays ``None``)."""
    if value is None:
        return None
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


def safe_link(url: str) -> bool:
    """Whether ``url`` may be an ``href``: an absolute http or https URL with a host."""
    if any(ord(c) < 32 or c in "\\ " for c in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


_NONE = Markup('<span class="none" aria-label="empty">—</span>')
_YES = Markup('<span class="bool-yes">Yes</span>')
_NO = Markup('<span class="bool-no">No</span>')


def display_value(value: Any, meta: ColumnMeta | None = None) -> Markup:
    """A value as escaped HTML for the change list and the history (called per cell:
    plain concatenation of escaped parts, no ``Markup.format``)."""
    if value is None:
        return _NONE
    if value is True or value is False:
        return _YES if value else _NO
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, dt.datetime):
        return Markup(value.strftime("%Y-%m-%d %H:%M"))
    if meta is not None and meta.is_url and isinstance(value, str) and safe_link(value):
        text = escape(value)
        return Markup(
            "".join(('<a href="', text, '" rel="noopener noreferrer nofollow">', text, "</a>"))
        )
    plain = value if isinstance(value, str) else str(value)
    if len(plain) > 200:
        plain = plain[:199] + "…"
    return escape(plain)


def is_relationship(model: type[Any], name: str) -> bool:
    prop = inspect(model).attrs.get(name)
    return isinstance(prop, RelationshipProperty)
