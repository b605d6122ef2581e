"""FastAPI's dependency tutorial, ported by changing the import lines only.

(The type annotations are the only other change: they keep ``mypy --strict`` clean.)
"""

from collections.abc import AsyncIterator
from typing import Annotated, Any

from keel import App as FastAPI  # was: from fastapi import Depends, FastAPI, Header, HTTPException
from keel import Depends, Header, HTTPException

app = FastAPI()


async def common_parameters(
    q: str | None = None, skip: int = 0, limit: int = 100
) -> dict[str, Any]:
    return {"q": q, "skip": skip, "limit": limit}


CommonsDep = Annotated[dict[str, Any], Depends(common_parameters)]


class CommonQueryParams:
    def __init__(self, q: str | None = None, skip: int = 0, limit: int = 100) -> None:
        self.q = q
        self.skip = skip
        self.limit = limit


async def verify_token(x_token: Annotated[str, Header()]) -> None:
    if x_token != "fake-super-secret-token":
        raise HTTPException(status_code=400, detail="X-Token header invalid")


async def get_db() -> AsyncIterator[dict[str, bool]]:
    db = {"connected": True}
    try:
        yield db
    finally:
        db["connected"] = False


@app.get("/items/")
async def read_items(commons: CommonsDep) -> dict[str, Any]:
    return commons


@app.get("/users/")
async def read_users(commons: Annotated[CommonQueryParams, Depends()]) -> dict[str, Any]:
    return {"q": commons.q, "skip": commons.skip, "limit": commons.limit}


@app.get("/secure/", dependencies=[Depends(verify_token)])
async def secure(db: Annotated[dict[str, bool], Depends(get_db)]) -> dict[str, bool]:
    return {"db": db["connected"]}
