"""Pydantic schemas derived from a model's columns: read, create and update shapes.

Example:
    class AuthorRead(Schema, model=Author):
        books: list[BookRead]

    class AuthorCreate(Schema, model=Author, mode="create", constraints={"name": NotBlank}):
        pass

    class AuthorUpdate(Schema, model=Author, mode="update"):
        pass
"""

from __future__ import annotations

from keel.db.schema._class import Schema, SchemaMeta, apply
from keel.db.schema._columns import Mode
from keel.db.schema._constraints import NotBlank
from keel.db.schema._function import schema

__all__ = ["Mode", "NotBlank", "Schema", "SchemaMeta", "apply", "schema"]
