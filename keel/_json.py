"""Strict JSON parsing for request bodies: hostile input is a 400, never a crash.

One parse, by ``jiter``, rejects invalid UTF-8, lone surrogates, ``NaN``/``Infinity``,
duplicate object keys, nesting deeper than 200 levels and integers over 4300 digits. Numbers
too large for a float (``1e999999``) would silently become infinity, and then ``null`` in a
response: they are rejected too. Numbers too small for a float (``1e-999999``) read as
``0.0``, as in every JSON parser: no information is invented.
"""

from __future__ import annotations

import gc
import math
import re
from typing import TYPE_CHECKING, Any

import jiter

from keel.errors import HTTPError

if TYPE_CHECKING:
    from pydantic import TypeAdapter
    from pydantic_core import SchemaValidator

__all__ = [
    "MalformedJSON",
    "loads",
    "python_validation_is_exact",
    "strict_numbers",
    "validate",
]


class MalformedJSON(HTTPError):
    """The request body is not acceptable JSON (400)."""

    def __init__(self, reason: str) -> None:
        super().__init__(400, f"Malformed JSON body: {reason}")


def loads(body: bytes) -> Any:
    """Parse ``body`` strictly and return the Python value (:class:`MalformedJSON` if not)."""
    if not body:
        raise MalformedJSON("the body is empty")
    try:
        value = jiter.from_json(
            body, allow_inf_nan=False, catch_duplicate_keys=True, partial_mode=False
        )
    except ValueError as exc:
        raise MalformedJSON(_reason(body, str(exc))) from None
    if _may_overflow(body) and _has_infinity(value):
        raise MalformedJSON("a number is too large for a float (it would read as infinity)")
    return value


def validate(body: bytes, adapter: TypeAdapter[Any] | SchemaValidator, from_python: bool) -> Any:
    """Parse ``body`` strictly and validate it with ``adapter`` (or a schema validator).

    With ``from_python`` (see :func:`python_validation_is_exact`) the parsed value itself is
    validated: one parse. The cycle collector is paused meanwhile: the parsed tree holds no
    cycles and is freed right after, but its hundreds of containers would otherwise trigger
    collections that traverse the whole heap. A collector the app turned off stays off.
    """
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        value = loads(body)
        result = adapter.validate_python(value) if from_python else adapter.validate_json(body)
        del value
        return result
    finally:
        if paused:
            gc.enable()


# -- numbers that overflow ----------------------------------------------------------------------

# Digits become "0", "E" becomes "e" and signs vanish, so two substring searches (C speed) find
# every number that could overflow: one needs an exponent of three or more digits, or at least
# 210 digits before its exponent (10**209 * 10**99 is still finite).
_NUMBER_SHAPE = bytes.maketrans(b"123456789E", b"000000000e")
_BIG_EXPONENT = b"e000"
_LONG_DIGITS = b"0" * 200


def _may_overflow(body: bytes) -> bool:
    shape = body.translate(_NUMBER_SHAPE, b"+-")
    return _BIG_EXPONENT in shape or _LONG_DIGITS in shape


def _has_infinity(value: Any) -> bool:
    """Whether an infinite float hides anywhere in the parsed ``value``."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            if math.isinf(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


# -- error messages -----------------------------------------------------------------------------

_POSITION = re.compile(r" at line (\d+) column (\d+)$")


def _offset(body: bytes, line: int, column: int) -> int:
    start = 0
    for _ in range(line - 1):
        start = body.find(b"\n", start) + 1
    return start + max(column - 1, 0)


def _reason(body: bytes, message: str) -> str:
    """A client-facing reason from jiter's error message (positions are in bytes)."""
    found = _POSITION.search(message)
    what = message[: found.start()] if found else message
    offset = _offset(body, int(found[1]), int(found[2])) if found else 0
    where = f" at line {found[1]} column {found[2]}" if found else ""
    if what in ("expected value", "invalid number"):
        for constant in (b"NaN", b"Infinity"):
            if body.startswith(constant, offset):
                return f"{constant.decode()} is not a valid JSON number"
    if what == "recursion limit exceeded":
        return "nesting too deep"
    if what == "invalid unicode code point":
        return f"invalid UTF-8 at byte {offset}"
    if what.startswith("Detected duplicate key "):
        key = what.removeprefix("Detected duplicate key ").strip('"')
        return f"duplicate key {key[:40]!r} in an object{where}"
    if what == "number out of range":
        return f"a number is too long{where}"
    return f"{what}{where}"[:160]


# -- when validating the parsed value equals validating the JSON text ---------------------------

# Core schema types whose lax validation of jiter's Python values (dict, list, str, int, float,
# bool, None) gives the same result as pydantic's JSON mode. Anything else (Decimal, whose
# digits a float loses; bytes, which JSON mode may read as base64; strict mode, where JSON mode
# accepts strings for dates, UUIDs and enums; validators that see ``info.mode``) is validated
# from the JSON text instead.
_SAME_IN_BOTH_MODES = frozenset(
    {
        "any", "none", "bool", "int", "float", "str", "literal", "enum",
        "date", "time", "datetime", "timedelta", "uuid", "url", "multi-host-url",
        "list", "set", "frozenset", "tuple", "dict", "nullable", "default", "union",
        "tagged-union", "chain", "custom-error", "definitions", "definition-ref",
        "model", "model-fields", "model-field", "dataclass", "dataclass-args", "dataclass-field",
        "typed-dict", "typed-dict-field", "computed-field",
        "function-before", "function-after", "function-wrap", "function-plain",
    }
)  # fmt: skip
_NOT_SCHEMAS = frozenset({"serialization", "metadata", "default", "expected", "members"})
# Strict int/float/bool accept exactly the same jiter values as strict JSON mode does.
_STRICT_SAME_IN_BOTH_MODES = frozenset({"int", "float", "bool"})


def python_validation_is_exact(schema: Any) -> bool:
    """Whether validating the parsed value with ``schema`` equals validating the JSON text."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, list | tuple):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        kind = node.get("type")
        if node.get("strict") is True and kind not in _STRICT_SAME_IN_BOTH_MODES:
            return False
        if kind is not None and isinstance(kind, str):
            if kind not in _SAME_IN_BOTH_MODES:
                return False
            if kind.startswith("function-"):
                function = node.get("function")
                if not isinstance(function, dict) or function.get("type") != "no-info":
                    return False
        for key, child in node.items():
            if key not in _NOT_SCHEMAS and key != "function" and isinstance(child, dict | list):
                stack.append(child)
    return True


# -- JSON numbers are numbers -------------------------------------------------------------------

# Keys whose values are not validation schemas (or are, but must stay lax: a dict's keys are
# strings in JSON, so ``dict[int, float]`` keeps reading ``{"1": 2.5}``).
_KEEP = frozenset(
    {"serialization", "metadata", "default", "expected", "members", "cls", "function",
     "config", "keys_schema", "json_schema_input_schema", "ref", "schema_ref"}
)  # fmt: skip
_STRICT_KINDS = frozenset({"int", "float", "bool"})


def strict_numbers(schema: Any) -> tuple[Any, SchemaValidator]:
    """The core ``schema`` rewritten so its numbers and booleans refuse strings, and its
    validator.

    ``int``, ``float`` and ``bool`` nodes become strict (``"9.99"``, ``"1"``, ``"true"`` are
    refused; ``1`` still reads as ``1.0``; an ``int`` also refuses ``1.5``, ``1.0`` and
    ``true``). ``Decimal`` nodes, whose strict mode still takes strings from JSON, refuse
    them in a small before-validator. Everything else (dates, UUIDs, enums, strings) is left
    lax, since JSON writes those as strings. A node that says ``strict`` itself
    (``Field(strict=False)``) and a model, dataclass or typed dict whose config sets
    ``strict`` (``ConfigDict(strict=False)``) are kept as they are, with what they contain.
    Built once per route; validation then costs what it cost before.
    """
    from pydantic_core import SchemaValidator

    rewriter = _Strict()
    rewritten = rewriter.node(schema)
    # pydantic-core reuses a complete model's (or dataclass's) own validator for its node,
    # which would ignore the rewrite: the classes whose node changed look incomplete while
    # their nodes are built (a synchronous call; nothing else runs meanwhile).
    flipped = [c for c in rewriter.classes if c.__dict__.get("__pydantic_complete__") is True]
    for cls in flipped:
        setattr(cls, "__pydantic_complete__", False)  # noqa: B010
    try:
        return rewritten, SchemaValidator(rewritten)
    finally:
        for cls in flipped:
            setattr(cls, "__pydantic_complete__", True)  # noqa: B010


class _Strict:
    """Copy-on-write rewrite of a core schema (unchanged parts are shared, not copied)."""

    def __init__(self) -> None:
        self.classes: list[type] = []

    def node(self, node: Any) -> Any:
        if isinstance(node, list | tuple):
            items = [self.node(item) for item in node]
            if all(new is old for new, old in zip(items, node, strict=True)):
                return node
            return items if isinstance(node, list) else tuple(items)
        if not isinstance(node, dict):
            return node
        kind = node.get("type")
        if not isinstance(kind, str):  # a mapping of schemas (model fields, union choices)
            return self.children(node, frozenset())
        config = node.get("config")
        if isinstance(config, dict) and "strict" in config:
            return node  # the model decided for itself
        if kind in _STRICT_KINDS:
            return node if "strict" in node else {**node, "strict": True}
        if kind == "decimal" and "strict" not in node:
            return _refusing_strings(node)
        new = self.children(node, _KEEP)
        if new is not node and isinstance(node.get("cls"), type):
            self.classes.append(node["cls"])
        return new

    def children(self, node: dict[Any, Any], keep: frozenset[str]) -> dict[Any, Any]:
        new = {key: (value if key in keep else self.node(value)) for key, value in node.items()}
        if all(new[key] is value for key, value in node.items()):
            return node
        return new


def _refusing_strings(node: dict[str, Any]) -> dict[str, Any]:
    from pydantic_core import core_schema

    inner = {key: value for key, value in node.items() if key != "ref"}
    wrapped: dict[str, Any] = dict(
        core_schema.no_info_before_validator_function(_refuse_string, inner)
    )
    if "ref" in node:
        wrapped["ref"] = node["ref"]
    return wrapped


def _refuse_string(value: Any) -> Any:
    if isinstance(value, str):
        from pydantic_core import PydanticCustomError

        raise PydanticCustomError(
            "decimal_type", "Input should be a valid decimal: a JSON number, not a string"
        )
    return value
