"""``jsonable_encoder``: turn any value into plain JSON-compatible Python data (FastAPI's rules).

keel serialises return values with pydantic directly; this function is for code that needs
the plain data itself (to store a model in a dict database, to build a ``JSONResponse``
by hand, to compare in tests). It follows FastAPI's encoder:

* pydantic models: ``model_dump(mode="json")`` with the ``include``/``exclude``/alias/unset/
  defaults/none options; dataclasses: their fields;
* ``datetime``/``date``/``time``: ISO 8601; ``timedelta``: seconds as a float;
* ``Decimal``: an ``int`` when it has no fraction, a ``float`` otherwise;
* ``UUID``, paths, IP addresses, ``Pattern``: strings; ``bytes``: decoded UTF-8; enums: their
  value;
* lists, tuples, sets, frozensets, deques and generators: lists; mappings: dicts;
* anything else: ``dict(obj)``, then ``vars(obj)``, else ``ValueError``.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import ipaddress
import pathlib
import re
import types
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["ENCODERS_BY_TYPE", "decimal_encoder", "jsonable_encoder"]

_IncEx = set[int] | set[str] | Mapping[int, Any] | Mapping[str, Any]


def decimal_encoder(value: decimal.Decimal) -> int | float:
    """``Decimal("1")`` → ``1``, ``Decimal("1.5")`` → ``1.5`` (FastAPI's rule)."""
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= 0:
        return int(value)
    return float(value)


def _bytes(value: bytes) -> str:
    return value.decode()


ENCODERS_BY_TYPE: dict[type[Any], Callable[[Any], Any]] = {
    bytes: _bytes,
    datetime.datetime: datetime.datetime.isoformat,
    datetime.date: datetime.date.isoformat,
    datetime.time: datetime.time.isoformat,
    datetime.timedelta: datetime.timedelta.total_seconds,
    decimal.Decimal: decimal_encoder,
    enum.Enum: lambda e: e.value,
    frozenset: list,
    set: list,
    deque: list,
    types.GeneratorType: list,
    ipaddress.IPv4Address: str,
    ipaddress.IPv6Address: str,
    ipaddress.IPv4Interface: str,
    ipaddress.IPv6Interface: str,
    ipaddress.IPv4Network: str,
    ipaddress.IPv6Network: str,
    pathlib.PurePath: str,
    re.Pattern: lambda p: p.pattern,
    uuid.UUID: str,
}
"""Encoders for values that are not JSON types, by class (subclasses match too)."""

_PLAIN = (str, int, float, type(None))


def jsonable_encoder(
    obj: Any,
    include: _IncEx | None = None,
    exclude: _IncEx | None = None,
    by_alias: bool = True,
    exclude_unset: bool = False,
    exclude_defaults: bool = False,
    exclude_none: bool = False,
    custom_encoder: Mapping[Any, Callable[[Any], Any]] | None = None,
    sqlalchemy_safe: bool = True,
) -> Any:
    """``obj`` as JSON-compatible data (dicts, lists, strings, numbers, booleans, ``None``).

    Args:
        obj: The value to convert.
        include: Fields (of a model) or keys (of a dict) to keep.
        exclude: Fields or keys to drop.
        by_alias: Use a model's field aliases as keys.
        exclude_unset: Drop a model's fields that were not set explicitly.
        exclude_defaults: Drop a model's fields equal to their default.
        exclude_none: Drop fields and dict entries whose value is ``None``.
        custom_encoder: ``{type: function}`` tried before the built-in encoders.
        sqlalchemy_safe: Skip dict keys starting with ``_sa`` (SQLAlchemy's state).

    Raises:
        ValueError: ``obj`` has no JSON form.
    """
    options = _Options(
        by_alias,
        exclude_unset,
        exclude_defaults,
        exclude_none,
        dict(custom_encoder or {}),
        sqlalchemy_safe,
    )
    return _encode(obj, options, include, exclude)


class _Options:
    __slots__ = (
        "by_alias",
        "exclude_unset",
        "exclude_defaults",
        "exclude_none",
        "custom",
        "sqlalchemy_safe",
    )

    def __init__(
        self,
        by_alias: bool,
        exclude_unset: bool,
        exclude_defaults: bool,
        exclude_none: bool,
        custom: dict[Any, Callable[[Any], Any]],
        sqlalchemy_safe: bool,
    ) -> None:
        self.by_alias = by_alias
        self.exclude_unset = exclude_unset
        self.exclude_defaults = exclude_defaults
        self.exclude_none = exclude_none
        self.custom = custom
        self.sqlalchemy_safe = sqlalchemy_safe


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _encode(
    obj: Any, opts: _Options, include: _IncEx | None = None, exclude: _IncEx | None = None
) -> Any:
    custom = opts.custom
    if custom:
        if type(obj) in custom:
            return custom[type(obj)](obj)
        for cls, fn in custom.items():
            if isinstance(cls, type) and isinstance(obj, cls):
                return fn(obj)
    kind = type(obj)
    if kind in _SCALARS:
        return obj
    if kind is list:
        return [item if type(item) in _SCALARS else _encode(item, opts) for item in obj]
    if kind is dict and include is None and exclude is None:
        out: dict[Any, Any] = {}
        for key, value in obj.items():
            if type(key) is not str:
                key = _encode(key, opts)
            elif opts.sqlalchemy_safe and key.startswith("_sa"):
                continue
            if value is None and opts.exclude_none:
                continue
            out[key] = value if type(value) in _SCALARS else _encode(value, opts)
        return out
    if isinstance(obj, enum.Enum):
        return _encode(obj.value, opts)
    if isinstance(obj, _PLAIN):
        return obj
    dump = getattr(obj, "model_dump", None)
    if dump is not None and hasattr(type(obj), "model_fields"):  # a pydantic model
        data = dump(
            mode="json" if not custom else "python",
            include=include,
            exclude=exclude,
            by_alias=opts.by_alias,
            exclude_unset=opts.exclude_unset,
            exclude_defaults=opts.exclude_defaults,
            exclude_none=opts.exclude_none,
        )
        return _encode(data, opts)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _encode(dataclasses.asdict(obj), opts)
    if isinstance(obj, Mapping):
        keep = set(include) if include is not None else None
        drop = set(exclude) if exclude is not None else set()
        mapped: dict[Any, Any] = {}
        for key, value in obj.items():
            if opts.sqlalchemy_safe and isinstance(key, str) and key.startswith("_sa"):
                continue
            if (keep is not None and key not in keep) or key in drop:
                continue
            if value is None and opts.exclude_none:
                continue
            mapped[_encode(key, opts)] = _encode(value, opts)
        return mapped
    if isinstance(obj, list | tuple | set | frozenset | deque | types.GeneratorType):
        return [_encode(item, opts) for item in obj]
    if kind in ENCODERS_BY_TYPE:
        return ENCODERS_BY_TYPE[kind](obj)
    for cls, encoder in ENCODERS_BY_TYPE.items():
        if isinstance(obj, cls):
            return encoder(obj)
    try:
        data = dict(obj)
    except Exception as first:
        try:
            data = vars(obj)
        except TypeError:
            raise ValueError(
                f"Cannot convert {type(obj).__name__} to JSON-compatible data: {first}"
            ) from first
    return _encode(data, opts)
