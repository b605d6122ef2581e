"""Reusable per-field constraints for :class:`~keel.db.Schema` (``constraints={...}``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

__all__ = ["NotBlank"]


@dataclass(frozen=True, slots=True)
class _NotBlank:
    """A string with at least one character that is not whitespace."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(_check_not_blank, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        target = handler.resolve_ref_schema(json_schema)
        target.setdefault("minLength", 1)
        target["pattern"] = r"\S"
        return json_schema

    def __repr__(self) -> str:
        return "NotBlank"


def _check_not_blank(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        raise PydanticCustomError("string_blank", "String should not be blank")
    return value


NotBlank = _NotBlank()
"""Refuse empty and whitespace-only strings (422 "String should not be blank").

Use it in ``constraints=`` or in an ``Annotated`` declaration; OpenAPI documents it as
``minLength: 1, pattern: "\\S"``.

Example:
    class AuthorCreate(Schema, model=Author, mode="create", constraints={"name": NotBlank}):
        pass
"""
