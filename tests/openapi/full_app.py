"""A test app using every parameter kind, body kind, response kind and security scheme."""

from __future__ import annotations

import datetime
import enum
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from keel import (
    App,
    Body,
    Cookie,
    Depends,
    File,
    Form,
    Header,
    HTTPError,
    Path,
    Query,
    Router,
    Security,
    UploadFile,
)
from keel.responses import HTMLResponse, PlainTextResponse, Response
from keel.security import (
    APIKeyCookie,
    APIKeyHeader,
    APIKeyQuery,
    HTTPAuthorizationCredentials,
    HTTPBasic,
    HTTPBasicCredentials,
    HTTPBearer,
    OAuth2PasswordBearer,
    OAuth2PasswordRequestForm,
)
from tests.openapi import other_models

app = App(
    title="Full test API",
    version="2.0.0",
    description="Every feature the OpenAPI generator documents.",
    servers=[{"url": "/", "description": "This server"}],
)


class Color(enum.StrEnum):
    red = "red"
    green = "green"


class Item(BaseModel):
    """A catalog item."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "Hammer", "price": 9.5, "tags": ["tools"]}]}
    )

    name: str = Field(min_length=1, max_length=50, examples=["Hammer"])
    price: float = Field(gt=0, le=1_000_000, description="Unit price in euros")
    tags: list[Annotated[str, Field(max_length=20)]] = Field(default_factory=list, max_length=5)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def label(self) -> str:
        """Shown in listings (output only)."""
        return f"{self.name} ({self.price:.2f})"


class Address(BaseModel):
    street: str = Field(max_length=100)
    city: str = Field(max_length=50)


class Customer(BaseModel):
    name: str = Field(max_length=50)
    address: Address
    since: datetime.date | None = None


class Signup(BaseModel):
    """A sign-up form (a model read from form fields)."""

    username: str = Field(min_length=3, max_length=20, pattern="^[a-z]+$")
    age: int = Field(ge=13, le=130)
    newsletter: bool = False


class NotFound(BaseModel):
    """A custom 404 body."""

    message: str


bearer = HTTPBearer(bearer_format="JWT", description="A JWT from /token")
basic = HTTPBasic(realm="full")
header_key = APIKeyHeader(name="X-API-Key")
query_key = APIKeyQuery(name="api_key", auto_error=False)
cookie_key = APIKeyCookie(name="session")
oauth2 = OAuth2PasswordBearer(
    token_url="/token", scopes={"items:read": "Read items", "items:write": "Change items"}
)


async def current_user(token: Annotated[str, Depends(oauth2)]) -> str:
    """The user behind the OAuth2 token."""
    return token


# -- parameters --------------------------------------------------------------------------------

params = Router(prefix="/params", tags=["parameters"])


@params.get("/{item_id:int}/{slug}")
async def read_params(
    item_id: Annotated[int, Path(ge=1, le=1_000_000, description="The item number")],
    slug: Annotated[str, Path(max_length=30)],
    q: Annotated[str | None, Query(max_length=20, examples=["red shoes"])] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    color: Color = Color.red,
    ids: Annotated[list[int], Query(max_length=5)] = [],
    sort: Literal["asc", "desc"] = "asc",
    old: Annotated[str | None, Query(deprecated=True, max_length=10)] = None,
    hidden: Annotated[str | None, Query(include_in_schema=False)] = None,
    page_size: Annotated[int | None, Query(alias="page-size", ge=1, le=50)] = None,
    x_request_tag: Annotated[str | None, Header(max_length=20)] = None,
    session_hint: Annotated[str | None, Cookie(max_length=20)] = None,
) -> dict[str, Any]:
    """Echo every kind of parameter."""
    return {
        "item_id": item_id,
        "slug": slug,
        "q": q,
        "limit": limit,
        "color": color.value,
        "ids": ids,
        "sort": sort,
        "page_size": page_size,
        "x_request_tag": x_request_tag,
    }


@params.get("/uuid/{key:uuid}")
async def read_uuid(key: uuid.UUID) -> dict[str, str]:
    """A UUID path parameter."""
    return {"key": str(key)}


@params.get("/files/{rest:path}")
async def read_path(rest: str) -> dict[str, str]:
    """A path parameter that spans slashes."""
    return {"rest": rest}


app.include(params)

# -- bodies ------------------------------------------------------------------------------------

bodies = Router(prefix="/bodies", tags=["bodies"])


@bodies.post("/items", status=201, responses={409: {"description": "The name is taken"}})
async def create_item(item: Item) -> Item:
    """Create an item from a JSON body."""
    if item.name == "taken":
        raise HTTPError(409, "That name is taken")
    return item


@bodies.put("/customers/{customer_id}")
async def replace_customer(
    customer_id: int, customer: Customer, note: Annotated[str, Body(max_length=50)] = ""
) -> Customer:
    """Several body parameters: an object keyed by name."""
    return customer


@bodies.post("/embedded")
async def embedded(
    item: Annotated[Item, Body(embed=True, description="The item, wrapped")],
) -> list[Item]:
    """One body parameter embedded under its name."""
    return [item]


@bodies.post("/form")
async def form_fields(
    name: Annotated[str, Form(max_length=20)],
    count: Annotated[int, Form(ge=0, le=10)] = 1,
    tags: Annotated[list[str], Form(max_length=3)] = [],
) -> dict[str, Any]:
    """URL-encoded (or multipart) form fields."""
    return {"name": name, "count": count, "tags": tags}


@bodies.post("/signup", status=201)
async def signup(data: Annotated[Signup, Form()]) -> Signup:
    """A form read into a model."""
    return data


@bodies.post("/upload")
async def upload(
    document: Annotated[UploadFile, File(description="Any file")],
    extras: Annotated[list[UploadFile], File()] = [],
    raw: Annotated[bytes | None, File()] = None,
    title: Annotated[str, Form(max_length=50)] = "",
) -> dict[str, Any]:
    """Multipart with files."""
    data = await document.read()
    return {
        "title": title,
        "filename": document.filename,
        "size": len(data),
        "extras": len(extras),
        "raw": len(raw or b""),
    }


app.include(bodies)

# -- responses ---------------------------------------------------------------------------------

out = Router(prefix="/responses", tags=["responses"])


@out.get(
    "/items/{item_id}",
    responses={404: {"description": "No such item", "model": NotFound}},
    response_description="The item",
    response_model=Item,
)
async def get_item(item_id: Annotated[int, Path(ge=0, le=1000)]) -> Item | Response:
    """An item, or a custom 404 body."""
    if item_id == 0:
        return Response(b'{"message": "no item 0"}', 404, media_type="application/json")
    return Item(name="thing", price=float(item_id))


@out.get("/list", response_model=list[Item])
async def list_items() -> Any:
    """``response_model`` overrides the (missing) return annotation."""
    return [{"name": "a", "price": 1.0}]


@out.delete("/items/{item_id}", status=204, deprecated=True)
async def delete_item(item_id: int) -> None:
    """Delete (deprecated)."""


@out.get("/page", response_class=HTMLResponse)
async def page() -> str:
    """An HTML page."""
    return "<p>hello</p>"


@out.get("/text")
async def text() -> PlainTextResponse:
    """Plain text."""
    return PlainTextResponse("hello")


@out.get("/untyped", summary="No annotation", operation_id="untypedResponse")
async def untyped():  # type: ignore[no-untyped-def]
    return {"anything": True}


@out.get("/warehouse", openapi_extra={"x-internal": True})
async def warehouse() -> other_models.Item:
    """The other ``Item`` model: a name collision."""
    return other_models.Item(sku="A-1")


@out.get("/hidden", include_in_schema=False)
async def hidden() -> dict[str, str]:
    return {}


app.include(out)

# -- security ----------------------------------------------------------------------------------

secure = Router(prefix="/secure", tags=["security"])


@secure.get("/bearer")
async def with_bearer(
    credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)],
) -> dict[str, str]:
    """HTTP bearer."""
    return {"scheme": credentials.scheme}


@secure.get("/basic")
async def with_basic(
    credentials: Annotated[HTTPBasicCredentials, Depends(basic)],
) -> dict[str, str]:
    """HTTP basic."""
    return {"username": credentials.username}


@secure.get("/keys")
async def with_keys(
    key: Annotated[str, Depends(header_key)],
    optional: Annotated[str | None, Depends(query_key)],
) -> dict[str, Any]:
    """Two API keys: a header (required) and a query parameter (optional)."""
    return {"key": len(key), "optional": optional is not None}


@secure.get("/cookie")
async def with_cookie(session: Annotated[str, Depends(cookie_key)]) -> dict[str, int]:
    """An API key in a cookie."""
    return {"length": len(session)}


@secure.get("/me")
async def me(user: Annotated[str, Security(current_user, scopes=["items:read"])]) -> dict[str, str]:
    """OAuth2 with a scope, through a nested dependency."""
    return {"user": user[:10]}


@secure.post("/write", dependencies=[Security(current_user, scopes=["items:write"])])
async def write() -> dict[str, bool]:
    """OAuth2 scope required by a route-level dependency."""
    return {"ok": True}


app.include(secure)


@app.post("/token", tags=["security"])
async def token(form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> dict[str, str]:
    """Trade a user name and password for a bearer token."""
    if form.password != "secret":
        raise HTTPError(400, "Incorrect user name or password")
    return {"access_token": form.username[:20], "token_type": "bearer"}


# -- websockets and mounts -------------------------------------------------------------------


class _StubWebSocketRoute:
    """Stands in for a websocket route object (the documented attributes only)."""

    def __init__(self, path: str, endpoint: Any, name: str) -> None:
        self.path = path
        self.endpoint = endpoint
        self.name = name
        self.regex = None
        self.include_in_schema = True

    def compile(self, app: Any) -> None:
        """Nothing to compile."""

    async def handle(self, scope: Any, receive: Any, send: Any) -> None:
        """Refuse the connection."""
        await send({"type": "websocket.close", "code": 1000})


async def chat(room: str) -> None:
    """Chat in a room."""


app.add_websocket_route(_StubWebSocketRoute("/ws/{room}", chat, "chat"))

sub = App(title="Sub-app", openapi_url=None)


@sub.get("/inside")
async def inside() -> dict[str, str]:
    return {"where": "sub-app"}


app.mount("/sub", sub)
