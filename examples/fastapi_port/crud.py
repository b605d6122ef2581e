"""A typical FastAPI CRUD example, ported by changing the import lines only.

(The return annotations are the only other change: they keep ``mypy --strict`` clean;
``response_model`` still decides what is sent.)
"""

from typing import Any

from pydantic import BaseModel

from keel import App as FastAPI  # was: from fastapi import FastAPI, HTTPException
from keel import HTTPException

app = FastAPI()


class Item(BaseModel):
    name: str
    description: str | None = None
    price: float
    tax: float | None = None


class ItemOut(BaseModel):
    id: int
    name: str
    price: float


items: dict[int, Item] = {}


@app.post("/items/", response_model=ItemOut, status_code=201)
async def create_item(item: Item) -> dict[str, Any]:
    item_id = len(items) + 1
    items[item_id] = item
    return {"id": item_id, **item.model_dump()}


@app.get("/items/{item_id}", response_model=ItemOut)
async def read_item(item_id: int) -> dict[str, Any]:
    if item_id not in items:
        raise HTTPException(status_code=404, detail="Item not found")
    return {"id": item_id, **items[item_id].model_dump()}


@app.put("/items/{item_id}", response_model=ItemOut)
async def update_item(item_id: int, item: Item) -> dict[str, Any]:
    if item_id not in items:
        raise HTTPException(status_code=404, detail="Item not found")
    items[item_id] = item
    return {"id": item_id, **item.model_dump()}


@app.delete("/items/{item_id}", status_code=204)
async def delete_item(item_id: int) -> None:
    if items.pop(item_id, None) is None:
        raise HTTPException(status_code=404, detail="Item not found")
