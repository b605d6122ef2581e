"""What every benchmark app shares: paths, constants and the pydantic models of the `body` scenario.

Kept free of framework and SQLAlchemy imports so the sync apps (Flask, Django) do not pay for them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

HERE = Path(__file__).resolve().parent
TEMPLATES_DIR = HERE / "templates"
DB_PATH = Path(os.environ.get("BENCH_DB", HERE.parent / "data" / "bench.db"))

HELLO = "Hello, World!"
# `routes`: ROUTE_COUNT templated GET routes sharing a prefix, registered in order;
# the scenario loads the last one.
ROUTE_COUNT = 1000
ROUTE_PREFIX = "/api/v1/items"
WORLD_ROWS = 10_000
ADDITIONAL_FORTUNE = "Additional fortune added at request time."

_TRUE = frozenset({"1", "true", "yes", "on", "t", "y"})
_FALSE = frozenset({"0", "false", "no", "off", "f", "n"})


def parse_bool(value: str) -> bool:
    """Parse a query-string boolean the way pydantic does; raise ValueError otherwise."""
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"not a boolean: {value!r}")


class Dimensions(BaseModel):
    width: float = Field(gt=0)
    height: float = Field(gt=0)
    depth: float = Field(gt=0)
    unit: Literal["cm", "in"] = "cm"


class Item(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=1000)
    price: float = Field(gt=0)
    tax: float | None = Field(default=None, ge=0)
    quantity: int = Field(ge=0)
    in_stock: bool = True
    sku: str = Field(pattern=r"^[A-Z]{3}-[0-9]{4}$")
    rating: int = Field(ge=1, le=5)
    tags: list[str] = Field(default_factory=list, max_length=20)
    dimensions: Dimensions


class ItemOut(Item):
    id: int


class NoteIn(BaseModel):
    """The body of the `writes` scenario: one row of table `note`."""

    author: str = Field(min_length=1, max_length=50)
    text: str = Field(min_length=1, max_length=1000)


class NoteOut(NoteIn):
    id: int
