from __future__ import annotations

import dataclasses
import datetime
import enum
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from keel import App, Body, Cookie, Header, Path, Query
from keel.testing import TestClient
from tests.problems import problem


class Sort(str, enum.Enum):  # noqa: UP042  (the FastAPI idiom)
    asc = "asc"
    desc = "desc"


class Item(BaseModel):
    name: str = Field(max_length=20)
    price: float = Field(gt=0)
    tags: list[str] = []


class User(BaseModel):
    username: str
    password: str


def make_app() -> App:
    app = App()

    @app.get("/search")
    def search(
        q: str,
        limit: Annotated[int, Query(ge=1, le=100)] = 10,
        sort: Sort = Sort.asc,
        ids: Annotated[list[int] | None, Query()] = None,
        since: datetime.date | None = None,
        flag: bool = False,
        kind: Literal["a", "b"] = "a",
        page_size: int = Query(20, alias="page-size", le=50),
    ) -> dict[str, object]:
        return {
            "q": q,
            "limit": limit,
            "sort": sort.value,
            "ids": ids,
            "since": since.isoformat() if since else None,
            "flag": flag,
            "kind": kind,
            "page_size": page_size,
        }

    @app.get("/headers")
    def headers(
        x_token: Annotated[str, Header()],
        user_agent: Annotated[str | None, Header()] = None,
        x_multi: Annotated[list[str] | None, Header()] = None,
        session: Annotated[str | None, Cookie()] = None,
    ) -> dict[str, object]:
        return {"x_token": x_token, "ua": user_agent, "multi": x_multi, "session": session}

    @app.get("/bounded/{n}")
    def bounded(n: Annotated[int, Path(ge=1, le=10)]) -> dict[str, int]:
        return {"n": n}

    @app.post("/items")
    def create(item: Item) -> Item:
        return item

    @app.post("/embedded")
    def embedded(item: Item, user: User, importance: Annotated[int, Body()]) -> dict[str, object]:
        return {"item": item.name, "user": user.username, "importance": importance}

    @app.post("/embed-one")
    def embed_one(item: Annotated[Item, Body(embed=True)]) -> dict[str, str]:
        return {"name": item.name}

    @app.post("/optional-body")
    def optional_body(item: Item | None = None) -> dict[str, object]:
        return {"item": item.name if item else None}

    @app.post("/list-body")
    def list_body(items: list[Item]) -> dict[str, int]:
        return {"count": len(items)}

    @app.get("/float")
    def float_q(x: float) -> dict[str, float]:
        return {"x": x}

    return app


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(make_app())


def test_query_params(client: TestClient) -> None:
    r = client.get(
        "/search",
        params={"q": "x", "limit": "5", "sort": "desc", "ids": ["1", "2"], "since": "2024-01-02"},
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "q": "x",
        "limit": 5,
        "sort": "desc",
        "ids": [1, 2],
        "since": "2024-01-02",
        "flag": False,
        "kind": "a",
        "page_size": 20,
    }
    assert client.get("/search?q=x&flag=true&page-size=7").json()["page_size"] == 7
    assert client.get("/search?q=x&flag=yes").json()["flag"] is True


def test_query_errors_name_their_location(client: TestClient) -> None:
    body = problem(client.get("/search"), 422)
    assert body["errors"] == [{"loc": ["query", "q"], "msg": "Field required", "type": "missing"}]
    r = client.get("/search?q=x&limit=0&sort=up&ids=a&kind=c&page-size=99")
    locs = [e["loc"] for e in problem(r, 422)["errors"]]
    assert ["query", "limit"] in locs
    assert ["query", "sort"] in locs
    assert ["query", "ids", 0] in locs
    assert ["query", "kind"] in locs
    assert ["query", "page-size"] in locs


def test_nan_and_infinity_are_rejected_in_query(client: TestClient) -> None:
    for value in ("nan", "NaN", "inf", "-Infinity"):
        body = problem(client.get(f"/float?x={value}"), 422)
        assert body["errors"][0]["loc"] == ["query", "x"]
    assert client.get("/float?x=1.5").json() == {"x": 1.5}


def test_invalid_utf8_query_is_400(client: TestClient) -> None:
    problem(client.get("/search?q=%ff%fe"), 400)


def test_headers_and_cookies(client: TestClient) -> None:
    r = client.get(
        "/headers",
        headers=[
            ("X-TOKEN", "abc"),
            ("x-multi", "1"),
            ("X-Multi", "2"),
            ("User-Agent", "t"),
            ("Cookie", "session=s1"),
        ],
    )
    assert r.json() == {"x_token": "abc", "ua": "t", "multi": ["1", "2"], "session": "s1"}
    assert problem(client.get("/headers"), 422)["errors"][0]["loc"] == ["header", "x-token"]


def test_duplicate_headers_first_wins_for_scalars(client: TestClient) -> None:
    r = client.get("/headers", headers=[("x-token", "one"), ("X-Token", "two")])
    assert r.json()["x_token"] == "one"


def test_malformed_cookie_header_is_tolerated(client: TestClient) -> None:
    r = client.get("/headers", headers={"x-token": "a", "cookie": 'a=1; ;;=; session="q\\"x"; b'})
    assert r.status_code == 200
    assert r.json()["session"] == 'q"x'


def test_path_constraints(client: TestClient) -> None:
    assert client.get("/bounded/3").json() == {"n": 3}
    assert problem(client.get("/bounded/11"), 422)["errors"][0]["loc"] == ["path", "n"]


def test_json_body(client: TestClient) -> None:
    r = client.post("/items", json={"name": "a", "price": 1, "tags": ["x"]})
    assert r.json() == {"name": "a", "price": 1.0, "tags": ["x"]}
    r = client.post("/items", json={"name": "a" * 30, "price": -1})
    locs = [e["loc"] for e in problem(r, 422)["errors"]]
    assert locs == [["body", "name"], ["body", "price"]]


def test_missing_body(client: TestClient) -> None:
    assert problem(client.post("/items"), 422)["errors"][0]["loc"] == ["body"]
    assert client.post("/optional-body").json() == {"item": None}


def test_embedded_bodies(client: TestClient) -> None:
    payload = {
        "item": {"name": "a", "price": 2},
        "user": {"username": "u", "password": "p"},
        "importance": 5,
    }
    assert client.post("/embedded", json=payload).json() == {
        "item": "a",
        "user": "u",
        "importance": 5,
    }
    r = client.post("/embedded", json={"item": {"name": "a", "price": 2}})
    locs = sorted(e["loc"] for e in r.json()["errors"])
    assert locs == [["body", "importance"], ["body", "user"]]
    assert client.post("/embed-one", json={"item": {"name": "z", "price": 1}}).json() == {
        "name": "z"
    }


def test_list_body(client: TestClient) -> None:
    items = [{"name": "a", "price": 1}, {"name": "b", "price": 2}]
    assert client.post("/list-body", json=items).json() == {"count": 2}
    r = client.post("/list-body", json=[{"name": "a"}])
    assert r.json()["errors"][0]["loc"] == ["body", 0, "price"]


def test_future_annotations_and_plain_annotations_both_work() -> None:
    # this module uses `from __future__ import annotations`; tests/test_di.py does not.
    app = make_app()
    app.build()
    assert app.routes[0].compiled is not None


def test_query_decoding(client: TestClient) -> None:
    assert client.get("/search?q=caf%C3%A9+au+lait").json()["q"] == "café au lait"
    assert client.get("/search", params={"q": "é"}).json()["q"] == "é"
    # raw (unencoded) UTF-8 bytes in the query string are accepted too
    assert client.get("/search?q=" + "é").json()["q"] == "é"
    assert client.get("/search?q=a&&limit=3").json()["limit"] == 3


@dataclasses.dataclass
class Point:
    x: int
    y: int = 0


class Movie(TypedDict):
    title: str
    year: int


def test_dataclass_typeddict_and_scalar_bodies() -> None:
    app = App()

    @app.post("/point")
    async def point(p: Point) -> Point:
        return p

    @app.post("/movie")
    async def movie(m: Movie) -> Movie:
        return m

    @app.post("/scalar")
    async def scalar(n: Annotated[int, Body()]) -> int:
        return n

    client = TestClient(app)
    assert client.post("/point", json={"x": 1}).json() == {"x": 1, "y": 0}
    assert client.post("/point", json={"x": "a"}).json()["errors"][0]["loc"] == ["body", "x"]
    assert client.post("/movie", json={"title": "t", "year": 1, "extra": 1}).json() == {
        "title": "t",
        "year": 1,
    }
    problem(client.post("/movie", json={"title": "t"}), 422)
    assert client.post("/scalar", json=5).json() == 5
    assert client.post("/scalar", json="x").json()["errors"][0]["loc"] == ["body"]


class Filters(BaseModel):
    limit: int = Field(10, ge=1)
    tags: list[str] = []
    order_by: Literal["name", "date"] = "name"


class Auth(BaseModel):
    x_token: str
    x_trace: str | None = None


def test_parameter_models() -> None:
    app = App()

    @app.get("/filtered")
    async def filtered(
        f: Annotated[Filters, Query()], h: Annotated[Auth, Header()]
    ) -> dict[str, object]:
        return {"filters": f.model_dump(), "token": h.x_token}

    client = TestClient(app)
    r = client.get("/filtered?limit=5&tags=a&tags=b", headers={"x-token": "t"})
    assert r.json() == {
        "filters": {"limit": 5, "tags": ["a", "b"], "order_by": "name"},
        "token": "t",
    }
    r = client.get("/filtered?limit=0&order_by=x")
    locs = sorted(e["loc"] for e in problem(r, 422)["errors"])
    assert locs == [["header", "x-token"], ["query", "limit"], ["query", "order_by"]]


def test_deprecated_body_parameter() -> None:
    app = App()

    @app.post("/old")
    async def old(item: Annotated[Item, Body(deprecated=True)]) -> Item:
        return item

    assert TestClient(app).post("/old", json={"name": "a", "price": 1}).status_code == 200


def test_markers_as_defaults_with_fastapi_keywords() -> None:
    """The FastAPI spelling type-checks (tests/typing/check_markers.py) and runs."""
    from keel import Depends

    app = App()

    def token() -> str:
        return "t"

    @app.get("/")
    async def index(
        limit: int = Query(10, ge=1, example=5),
        q: str | None = Query(None, max_length=None, description=None, regex="^[a-z]+$"),
        agent: str | None = Header(None),
        user: str = Depends(token),
    ) -> dict[str, object]:
        return {"limit": limit, "q": q, "agent": agent, "user": user}

    client = TestClient(app)
    assert client.get("/?q=abc", headers={"agent": "x"}).json() == {
        "limit": 10,
        "q": "abc",
        "agent": "x",
        "user": "t",
    }
    assert client.get("/?q=ABC").status_code == 422
    assert client.get("/?limit=0").status_code == 422


def test_a_misspelt_constraint_is_a_type_error_at_run_time_too() -> None:

    with pytest.raises(TypeError, match="unknown option.*gee"):
        Query(gee=1)  # type: ignore[call-arg]


class CommonHeaders(BaseModel):
    save_data: bool
    x_tag: list[str] = []


def test_header_model_without_underscore_conversion() -> None:
    app = App()

    @app.get("/converted")
    async def converted(h: Annotated[CommonHeaders, Header()]) -> CommonHeaders:
        return h

    @app.get("/raw")
    async def raw(h: Annotated[CommonHeaders, Header(convert_underscores=False)]) -> CommonHeaders:
        return h

    client = TestClient(app)
    assert client.get("/converted", headers={"save-data": "1"}).json()["save_data"] is True
    r = client.get("/raw", headers={"save_data": "1", "x_tag": "a"})
    assert r.json() == {"save_data": True, "x_tag": ["a"]}
    assert problem(client.get("/raw", headers={"save-data": "1"}), 422)["errors"][0]["loc"] == [
        "header",
        "save_data",
    ]


class Named(BaseModel):
    name: str


EXAMPLES: dict[str, dict[str, object]] = {
    "normal": {"summary": "A normal item", "value": {"name": "Foo"}},
    "empty": {"description": "Fails validation", "value": {}},
}


def test_openapi_examples_on_body_and_query() -> None:
    examples = EXAMPLES
    app = App()

    @app.put("/items")
    async def put(
        item: Annotated[Named, Body(openapi_examples=EXAMPLES)],
        q: Annotated[str, Query(openapi_examples={"one": {"value": "x"}})] = "",
    ) -> str:
        return item.name

    doc = app.openapi()["paths"]["/items"]["put"]
    assert doc["requestBody"]["content"]["application/json"]["examples"] == examples
    assert doc["parameters"][0]["examples"] == {"one": {"value": "x"}}
    assert TestClient(app).put("/items", json={"name": "n"}).json() == "n"
    with pytest.raises(TypeError, match="unknown keys"):
        Body(openapi_examples={"bad": {"val": 1}})
    with pytest.raises(TypeError, match="Example Objects"):
        Body(openapi_examples={"bad": 1})  # type: ignore[dict-item]
