"""FastAPI's first-steps example, ported by changing the import line only.

(The return annotations are the only other change: they keep ``mypy --strict`` clean.)
"""

from typing import Any

from keel import App as FastAPI  # was: from fastapi import FastAPI

app = FastAPI()


@app.get("/")
async def root() -> dict[str, str]:
    return {"message": "Hello World"}


@app.get("/items/{item_id}")
async def read_item(item_id: int, q: str | None = None) -> dict[str, Any]:
    return {"item_id": item_id, "q": q}
