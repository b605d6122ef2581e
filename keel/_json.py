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

__all__ = ["MalformedJSON", "loads", "python_validation_is_exact", "validate"]


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


def validate(body: bytes, adapter: TypeAdapter[Any], from_python: bool) -> Any:
    """Parse ``body`` strictly and validate it with ``adapter``.

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
        if node.get("strict") is True:
            return False
        kind = node.get("type")
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
