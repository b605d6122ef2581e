"""Path templates: ``/items/{id:int}`` compiled once into what matching and URL building need.

:mod:`keel.routing` re-exports these names (``compile_path``, ``PathTemplate``, ``Segment``,
``PATH_PARAM``); the route table walks the segments.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any, NamedTuple

__all__ = ["PATH_PARAM", "PathTemplate", "Segment", "compile_path"]

_CONVERTERS: dict[str, tuple[str, Any]] = {
    "str": ("[^/]+", str),
    "int": ("[0-9]+", int),
    "float": (r"[0-9]+(?:\.[0-9]+)?", float),
    "uuid": (
        "[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}",
        uuid.UUID,
    ),
    "path": (".*", str),
}
PATH_PARAM = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)(?::([a-zA-Z_][a-zA-Z0-9_]*))?}")
"""A path parameter in a template: ``{name}`` or ``{name:converter}`` (groups: name, converter)."""


class Segment(NamedTuple):
    """One ``/``-separated piece of a path template, as the route table matches it.

    Attributes:
        literal: The text of a segment without parameters (``None`` otherwise).
        pattern: For parameters: a regex whose groups are the values in order; it matches
            the segment (``fullmatch``), or with ``tail`` the rest of the path. ``None`` for
            a lone ``{name}``, which takes any non-empty segment.
        names: The parameter names, in the order of the pattern's groups.
        key: The segment's shape with the names erased: equal keys match the same text.
        tail: The segment holds a ``path`` parameter: it and everything after it are
            matched as one (``pattern`` covers the rest of the template).
    """

    literal: str | None
    pattern: re.Pattern[str] | None = None
    names: tuple[str, ...] = ()
    key: str = ""
    tail: bool = False


@dataclass(frozen=True, slots=True)
class PathTemplate:
    """A compiled path template (see :func:`compile_path`).

    Attributes:
        path: The template as written.
        regex: Matches the whole path with named groups (``None`` for a static path).
        format: The template with converters removed (``/items/{id}``), for building URLs.
        param_types: ``{name: python type}`` of the converters.
        converters: ``{name: converter name}``.
        prefix: The literal text before the first parameter (the whole path when static).
        segments: The template split as the route table walks it.
    """

    path: str
    regex: re.Pattern[str] | None
    format: str
    param_types: dict[str, Any]
    converters: dict[str, str]
    prefix: str
    segments: tuple[Segment, ...]


def compile_path(path: str) -> PathTemplate:
    """Compile a template like ``/items/{id:int}`` or ``/files/{name}.{ext}``.

    Raises:
        ValueError: The path does not start with ``/``, names an unknown converter or
            repeats a parameter.
    """
    if not path.startswith("/"):
        raise ValueError(f"Route paths must start with '/': {path!r}")
    pattern = "^"
    fmt = ""
    names: dict[str, Any] = {}
    converters: dict[str, str] = {}
    pos = 0
    for m in PATH_PARAM.finditer(path):
        name, conv = m.group(1), m.group(2) or "str"
        if conv not in _CONVERTERS:
            raise ValueError(
                f"Unknown path converter {conv!r} in {path!r}; use one of {', '.join(_CONVERTERS)}"
            )
        if name in names:
            raise ValueError(f"Path parameter {name!r} appears twice in {path!r}")
        regex, tp = _CONVERTERS[conv]
        pattern += re.escape(path[pos : m.start()]) + f"(?P<{name}>{regex})"
        fmt += path[pos : m.start()] + "{" + name + "}"
        names[name] = tp
        converters[name] = conv
        pos = m.end()
    if not names:
        return PathTemplate(path, None, path, {}, {}, path, _segments(path))
    pattern += re.escape(path[pos:]) + "$"
    fmt += path[pos:]
    first = PATH_PARAM.search(path)
    assert first is not None
    return PathTemplate(
        path, re.compile(pattern), fmt, names, converters, path[: first.start()], _segments(path)
    )


def _segments(path: str) -> tuple[Segment, ...]:
    """Split a template into segments; a ``path`` parameter starts the tail."""
    tail_at = len(path)
    for m in PATH_PARAM.finditer(path):
        if m.group(2) == "path":
            tail_at = path.rfind("/", 0, m.start()) + 1
            break
    if tail_at == len(path):
        head: list[str] = path[1:].split("/")
    else:  # the segments before the tail; none when the tail starts the path
        head = path[1 : tail_at - 1].split("/") if tail_at > 1 else []
    out = [_segment(text) for text in head]
    if tail_at < len(path):
        regex, names = _segment_regex(path[tail_at:])
        out.append(Segment(None, re.compile(regex), names, "*" + regex, tail=True))
    return tuple(out)


def _segment(text: str) -> Segment:
    m = PATH_PARAM.fullmatch(text)
    if m is not None and (m.group(2) or "str") == "str":
        return Segment(None, None, (m.group(1),), "{}")
    if PATH_PARAM.search(text) is None:
        return Segment(text)
    regex, names = _segment_regex(text)
    return Segment(None, re.compile(regex), names, regex)


def _segment_regex(text: str) -> tuple[str, tuple[str, ...]]:
    """A regex for ``text`` with one unnamed group per parameter, and the names in order."""
    regex = ""
    names: list[str] = []
    pos = 0
    for m in PATH_PARAM.finditer(text):
        regex += re.escape(text[pos : m.start()]) + f"({_CONVERTERS[m.group(2) or 'str'][0]})"
        names.append(m.group(1))
        pos = m.end()
    return regex + re.escape(text[pos:]), tuple(names)
