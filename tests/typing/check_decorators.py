"""Read by mypy only (``mypy --strict tests/typing``): decorators keep handler types."""

from __future__ import annotations

from typing import Annotated, Any, assert_type

from keel import App, Depends, Query, Router

app = App()
router = Router(prefix="/r")


@app.get("/items/{item_id}", status=200, tags=["items"])
async def get_item(
    item_id: int, q: Annotated[str | None, Query(max_length=5)] = None
) -> dict[str, int]:
    return {"item_id": item_id}


@router.post("/sync")
def sync_handler(value: int = 0) -> str:
    return str(value)


def dep() -> int:
    return 1


@app.get("/dep")
async def with_dep(n: Annotated[int, Depends(dep)]) -> int:
    return n


async def call_it() -> None:
    assert_type(await get_item(1), dict[str, int])
    assert_type(sync_handler(2), str)
    assert_type(await with_dep(3), int)


def state_is_writable() -> None:
    app.state.engine = "engine"
    assert_type(app.state.engine, Any)
