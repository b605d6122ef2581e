"""Strict JSON parsing for request bodies: hostile input is a 400, never a crash.

Rejected: invalid UTF-8, lone surrogates, ``NaN``/``Infinity``, duplicate object keys,
nesting deeper than the parser's limit and numbers too long to convert.
"""

from __future__ import annotations

import json
from typing import Any

import pydantic_core

from keel.errors import HTTPError

__all__ = ["MalformedJSON", "check", "loads"]


class MalformedJSON(HTTPError):
    """The request body is not acceptable JSON (400)."""

    def __init__(self, reason: str) -> None:
        super().__init__(400, f"Malformed JSON body: {reason}")


class _Duplicate(ValueError):
    pass


class _NonFinite(ValueError):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d = dict(pairs)
    if len(d) != len(pairs):
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                raise _Duplicate(k)
            seen.add(k)
    return d


def _constant(name: str) -> Any:
    raise _NonFinite(name)


_decoder = json.JSONDecoder(object_pairs_hook=_pairs, parse_constant=_constant)
_scan = _decoder.scan_once  # type: ignore[attr-defined]  # the C scanner, minus decode()
_WS = " \t\n\r"


def _python_check(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedJSON(f"invalid UTF-8 at byte {exc.start}") from None
    try:
        start = len(text) - len(text.lstrip(_WS))
        value, end = _scan(text, start)
        if text[end:].strip(_WS):
            raise MalformedJSON(f"extra data after the JSON value at character {end}")
        return value
    except StopIteration as exc:
        raise MalformedJSON(f"expected a JSON value at character {exc.value}") from None
    except _Duplicate as exc:
        key = str(exc.args[0])
        raise MalformedJSON(f"duplicate key {key[:40]!r} in an object") from None
    except _NonFinite as exc:
        raise MalformedJSON(f"{exc.args[0]} is not a valid JSON number") from None
    except RecursionError:
        raise MalformedJSON("nesting too deep") from None
    except json.JSONDecodeError as exc:
        raise MalformedJSON(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:  # e.g. int digit limit
        raise MalformedJSON(str(exc)[:120]) from None


def check(body: bytes) -> None:
    """Raise :class:`MalformedJSON` unless ``body`` is acceptable JSON.

    Run before ``TypeAdapter.validate_json`` so the checks pydantic's parser does not make
    (duplicate keys, non-finite numbers) are still made.
    """
    if not body:
        raise MalformedJSON("the body is empty")
    _python_check(body)


def loads(body: bytes) -> Any:
    """Parse ``body`` strictly and return the Python value."""
    if not body:
        raise MalformedJSON("the body is empty")
    _python_check(body)
    try:
        return pydantic_core.from_json(body, allow_inf_nan=False)
    except ValueError as exc:
        raise MalformedJSON(_reason(str(exc))) from None


def _reason(message: str) -> str:
    if "recursion limit" in message:
        return "nesting too deep"
    return message[:160]


def json_invalid_reason(message: str) -> str:
    """A client-facing reason from pydantic's ``json_invalid`` error message."""
    return _reason(message.removeprefix("Invalid JSON: "))
