"""Core schemas for plain builtin types, so simple routes never import pydantic's models.

``TypeAdapter(dict[str, int])`` costs pydantic's whole model machinery (about 7 MiB and
tens of milliseconds); for annotations made only of builtins keel builds the same
pydantic-core schema itself. Anything else returns ``None`` and goes through ``TypeAdapter``.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any, Union, get_args, get_origin

from pydantic_core import (
    CoreConfig,
    PydanticUndefined,
    SchemaSerializer,
    SchemaValidator,
    core_schema,
)

if TYPE_CHECKING:
    from keel._analysis import FieldSpec

__all__ = ["SimpleAdapter", "is_pydantic_model", "simple_params_schema", "simple_schema"]

_LEAVES: dict[Any, Any] = {
    str: core_schema.str_schema,
    int: core_schema.int_schema,
    float: core_schema.float_schema,
    bool: core_schema.bool_schema,
    type(None): core_schema.none_schema,
    Any: core_schema.any_schema,
    object: core_schema.any_schema,
}

_CONFIG = CoreConfig(ser_json_inf_nan="null")


def simple_schema(tp: Any) -> Any:
    """The core schema of ``tp`` when it is built only from builtins, else ``None``.

    Covered: ``str``, ``int``, ``float``, ``bool``, ``None``, ``Any``/``object``,
    ``dict[str, T]``, ``list[T]`` and ``T | None`` of those.
    """
    leaf = _LEAVES.get(tp)
    if leaf is not None:
        return leaf()
    origin = get_origin(tp)
    args = get_args(tp)
    if origin is dict and len(args) == 2 and args[0] is str:
        values = simple_schema(args[1])
        return None if values is None else core_schema.dict_schema(core_schema.str_schema(), values)
    if origin is list and len(args) == 1:
        items = simple_schema(args[0])
        return None if items is None else core_schema.list_schema(items)
    if origin is Union or origin is types.UnionType:
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and len(args) == 2:
            inner = simple_schema(rest[0])
            return None if inner is None else core_schema.nullable_schema(inner)
    return None


class SimpleAdapter:
    """The part of ``TypeAdapter``'s interface keel uses, over a builtin-only schema."""

    __slots__ = ("validator", "serializer")

    def __init__(self, schema: Any) -> None:
        self.validator = SchemaValidator(schema, _CONFIG)
        self.serializer = SchemaSerializer(schema, _CONFIG)

    def validate_python(self, value: Any, *, from_attributes: bool | None = None) -> Any:
        """Validate (and coerce) a Python value."""
        return self.validator.validate_python(value, from_attributes=from_attributes)

    def dump_json(self, value: Any) -> bytes:
        """Serialize to JSON bytes."""
        return self.serializer.to_json(value)


def is_pydantic_model(tp: Any) -> bool:
    """Whether ``tp`` is a pydantic model class, without importing pydantic to find out."""
    main = sys.modules.get("pydantic.main")
    return main is not None and isinstance(tp, type) and issubclass(tp, main.BaseModel)


_PARAM_LEAVES: dict[Any, Any] = {
    str: core_schema.str_schema,
    int: core_schema.int_schema,
    bool: core_schema.bool_schema,
}
_IMMUTABLE = (str, int, float, bool, type(None))


def simple_params_schema(params: list[FieldSpec]) -> Any:
    """A typed-dict schema for request parameters that are plain ``str``/``int``/``float``/
    ``bool`` (optionally ``| None``) with at most an immutable default, else ``None``.

    Keys are ``p0``, ``p1``… as in the pydantic model keel builds otherwise; floats refuse
    ``NaN`` and infinities as they do there.
    """
    fields = {}
    for i, f in enumerate(params):
        if set(f.field_kwargs) - {"default"} or f.is_sequence:
            return None
        tp = f.annotation
        nullable = False
        origin = get_origin(tp)
        if origin is Union or origin is types.UnionType:
            rest = [a for a in get_args(tp) if a is not type(None)]
            if len(rest) != 1 or len(get_args(tp)) != 2:
                return None
            tp, nullable = rest[0], True
        schema: Any
        if tp is float:
            schema = core_schema.float_schema(allow_inf_nan=False)
        elif tp in _PARAM_LEAVES:
            schema = _PARAM_LEAVES[tp]()
        else:
            return None
        if nullable:
            schema = core_schema.nullable_schema(schema)
        default = f.field_kwargs.get("default", PydanticUndefined)
        if default is PydanticUndefined:
            fields[f"p{i}"] = core_schema.typed_dict_field(schema, required=True)
        elif isinstance(default, _IMMUTABLE) and type(default) in _IMMUTABLE:
            fields[f"p{i}"] = core_schema.typed_dict_field(
                core_schema.with_default_schema(schema, default=default), required=False
            )
        else:
            return None
    return core_schema.typed_dict_schema(fields)
