"""Parameter markers (``Path``, ``Query``, ``Header``, ``Cookie``, ``Body``, ``Form``, ``File``).

Use them as ``Annotated[int, Query(ge=1)]`` or as a default, ``limit: int = Query(10, ge=1)``.
Constraints are pydantic's ``Field`` constraints; a misspelt one is a type error
(``Query(gee=1)``) and, for code that is not type-checked, a ``TypeError``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypedDict

from pydantic_core import PydanticUndefined
from typing_extensions import Unpack

__all__ = [
    "Body",
    "Constraints",
    "Cookie",
    "File",
    "Form",
    "Header",
    "Param",
    "ParamOptions",
    "Path",
    "Query",
]

if TYPE_CHECKING:
    from annotated_types import SupportsGe, SupportsGt, SupportsLe, SupportsLt

    # Type checkers see a marker as a value of any type, so that the FastAPI spelling
    # ``limit: int = Query(10)`` (a marker as the default of an ``int`` parameter) checks.
    # At run time the markers are plain classes (``isinstance`` works).
    _AnyValue = Any
else:
    _AnyValue = object


class Constraints(TypedDict, total=False):
    """The validation and documentation keywords a marker accepts (pydantic ``Field``'s)."""

    gt: SupportsGt | None
    ge: SupportsGe | None
    lt: SupportsLt | None
    le: SupportsLe | None
    multiple_of: float | None
    min_length: int | None
    max_length: int | None
    pattern: str | re.Pattern[str] | None
    strict: bool | None
    allow_inf_nan: bool | None
    max_digits: int | None
    decimal_places: int | None
    title: str | None
    description: str | None
    examples: list[Any] | None
    json_schema_extra: dict[str, Any] | Callable[[dict[str, Any]], None] | None
    regex: str | None
    """FastAPI's older spelling of ``pattern``."""
    example: Any
    """One example (FastAPI's older spelling of ``examples=[...]``)."""


class ParamOptions(Constraints, total=False):
    """Every keyword a marker accepts besides its default."""

    default_factory: Callable[[], Any] | None
    alias: str | None
    deprecated: bool | None
    include_in_schema: bool
    openapi_examples: Mapping[str, Mapping[str, Any]] | None


_FIELD_KEYS = (
    "gt",
    "ge",
    "lt",
    "le",
    "multiple_of",
    "min_length",
    "max_length",
    "pattern",
    "strict",
    "allow_inf_nan",
    "max_digits",
    "decimal_places",
    "title",
    "description",
    "examples",
    "json_schema_extra",
)


class Param(_AnyValue):  # type: ignore[misc]  # an Any base on purpose, see _AnyValue
    """Base class of the parameter markers; says where a value comes from.

    Args:
        default: The default value (``...`` or omitted means required).
        default_factory: Called to make the default.
        alias: The external name (query key, header name, form field…).
        deprecated: Mark the parameter deprecated in the OpenAPI document.
        include_in_schema: ``False`` hides it from the OpenAPI document.
        openapi_examples: Named OpenAPI Example Objects, ``{"normal": {"summary": ...,
            "value": ...}}``: shown by the docs UIs (the parameter's or body's ``examples``).
        **constraints: ``gt``, ``ge``, ``lt``, ``le``, ``multiple_of``, ``min_length``,
            ``max_length``, ``pattern``, ``strict``, ``title``, ``description``, ``examples``…
    """

    location = "query"
    __slots__ = (
        "default",
        "default_factory",
        "alias",
        "deprecated",
        "include_in_schema",
        "constraints",
        "extra",
        "openapi_examples",
    )

    def __init__(
        self,
        default: Any = PydanticUndefined,
        *,
        default_factory: Callable[[], Any] | None = None,
        alias: str | None = None,
        deprecated: bool | None = None,
        include_in_schema: bool = True,
        openapi_examples: Mapping[str, Mapping[str, Any]] | None = None,
        **constraints: Unpack[Constraints],
    ) -> None:
        if default is ...:
            default = PydanticUndefined
        self.default = default
        self.default_factory = default_factory
        self.alias = alias
        self.deprecated = deprecated
        self.include_in_schema = include_in_schema
        given: dict[str, Any] = dict(constraints)
        unknown = set(given) - set(_FIELD_KEYS) - {"regex", "example"}
        if unknown:
            raise TypeError(
                f"{type(self).__name__}() got unknown option(s): {', '.join(sorted(unknown))}"
            )
        if "regex" in given:  # FastAPI's older spelling
            given["pattern"] = given.pop("regex")
        if "example" in given:
            given["examples"] = [given.pop("example")]
        self.constraints = given
        self.extra: dict[str, Any] = {}
        self.openapi_examples = _examples(openapi_examples)

    @property
    def has_default(self) -> bool:
        """Whether a default (or default factory) was given."""
        return self.default is not PydanticUndefined or self.default_factory is not None

    def field_kwargs(self, default: Any = PydanticUndefined) -> dict[str, Any]:
        """Keyword arguments for a pydantic ``Field`` with the constraints and default."""
        kwargs = dict(self.constraints)
        if self.default_factory is not None:
            kwargs["default_factory"] = self.default_factory
        else:
            d = self.default if self.default is not PydanticUndefined else default
            kwargs["default"] = d
        if self.deprecated:
            kwargs["deprecated"] = True
        return kwargs

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.constraints or ''})"


class Path(Param):
    """A path parameter (``/items/{item_id}``); always required."""

    location = "path"
    __slots__ = ()


class Query(Param):
    """A query-string parameter."""

    location = "query"
    __slots__ = ()


class Header(Param):
    """A request header; ``x_token`` reads ``x-token`` unless ``convert_underscores=False``."""

    location = "header"
    __slots__ = ("convert_underscores",)

    def __init__(
        self,
        default: Any = PydanticUndefined,
        *,
        convert_underscores: bool = True,
        **kw: Unpack[ParamOptions],
    ) -> None:
        super().__init__(default, **kw)
        self.convert_underscores = convert_underscores


class Cookie(Param):
    """A request cookie."""

    location = "cookie"
    __slots__ = ()


class Body(Param):
    """(Part of) the JSON body.

    With one body parameter the whole body is that value; ``embed=True`` (or several body
    parameters) expects an object keyed by parameter name instead.
    """

    location = "body"
    __slots__ = ("embed", "media_type")

    def __init__(
        self,
        default: Any = PydanticUndefined,
        *,
        embed: bool = False,
        media_type: str = "application/json",
        **kw: Unpack[ParamOptions],
    ) -> None:
        super().__init__(default, **kw)
        self.embed = embed
        self.media_type = media_type


class Form(Param):
    """A field of an url-encoded or multipart form body (or, on a model, all of them)."""

    location = "form"
    __slots__ = ()


class File(Form):
    """An uploaded file of a multipart form; annotate as ``UploadFile`` or ``bytes``."""

    location = "file"
    __slots__ = ()


_EXAMPLE_KEYS = {"summary", "description", "value", "externalValue"}


def _examples(given: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, Any]] | None:
    """Check ``openapi_examples``: names mapped to OpenAPI Example Objects."""
    if given is None:
        return None
    out: dict[str, dict[str, Any]] = {}
    for name, example in given.items():
        if not isinstance(name, str) or not isinstance(example, Mapping):
            raise TypeError(
                "openapi_examples maps names to Example Objects, e.g. "
                '{"normal": {"summary": "A normal item", "value": {...}}}'
            )
        unknown = set(example) - _EXAMPLE_KEYS
        if unknown:
            raise TypeError(
                f"openapi_examples[{name!r}] has unknown keys {sorted(unknown)}; "
                f"use {sorted(_EXAMPLE_KEYS)}"
            )
        out[name] = dict(example)
    return out
