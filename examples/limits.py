"""A tiny app used by the real-server tests: a JSON endpoint and a static folder."""

from pathlib import Path

from pydantic import BaseModel

from keel import App
from keel.staticfiles import StaticFiles

app = App()
app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"))


class Item(BaseModel):
    name: str
    price: float


@app.post("/items", status=201)
async def create(item: Item) -> Item:
    return item
