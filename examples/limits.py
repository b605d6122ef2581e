"""A tiny app used by the real-server tests: a JSON endpoint with a model body."""

from pydantic import BaseModel

from keel import App

app = App()


class Item(BaseModel):
    name: str
    price: float


@app.post("/items", status=201)
async def create(item: Item) -> Item:
    return item
