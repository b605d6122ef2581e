"""A second model named ``Item`` (in another module) to exercise name collisions."""

from __future__ import annotations

from pydantic import BaseModel


class Item(BaseModel):
    """A warehouse item (not the catalog one)."""

    sku: str
    stock: int = 0
