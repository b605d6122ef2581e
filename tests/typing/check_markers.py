"""Read by mypy only: markers as defaults (the FastAPI spelling) and in ``Annotated``."""

from __future__ import annotations

from typing import Annotated

from keel import App, Body, Cookie, Depends, File, Form, Header, Path, Query, Security, UploadFile
from keel.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordBearer

app = App()
oauth2 = OAuth2PasswordBearer(token_url="/token")
bearer = HTTPBearer()


def current_user(token: str = Depends(oauth2)) -> str:
    return token


@app.get("/items/{item_id}")
async def read_items(
    item_id: int = Path(ge=1),
    limit: int = Query(10, ge=1, le=100),
    q: str | None = Query(None, max_length=50, pattern="^[a-z]+$", description="Search"),
    tags: list[str] = Query(default_factory=list, alias="tag"),
    agent: str | None = Header(None),
    raw_agent: str | None = Header(None, convert_underscores=False),
    session: str | None = Cookie(None),
    user: str = Depends(current_user),
    admin: str = Security(current_user, scopes=["admin"]),
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
) -> dict[str, object]:
    return {"item_id": item_id, "limit": limit}


@app.post("/items")
async def create(
    name: str = Body(embed=True, min_length=1),
    price: float = Body(gt=0, examples=[9.5]),
) -> str:
    return name


@app.post("/upload")
async def upload(title: str = Form(max_length=80), data: UploadFile = File()) -> str:
    return title


@app.get("/annotated")
async def annotated(
    limit: Annotated[int, Query(ge=1)] = 10,
    token: Annotated[str, Depends(oauth2)] = "",
    agent: Annotated[str | None, Header()] = None,
) -> int:
    return limit


def fastapi_spellings() -> None:
    Query(None, regex="^x$", example="x", deprecated=True, include_in_schema=False)
    Path(..., title="Id", gt=0, lt=10, multiple_of=2)
    Body(None, media_type="application/merge-patch+json", strict=True, allow_inf_nan=False)
    Query(None, max_digits=5, decimal_places=2, json_schema_extra={"x-internal": True})
