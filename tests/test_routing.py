from __future__ import annotations

import enum
import uuid

import pytest

from keel import App, Request, Router
from keel.routing import NoMatchFound, compile_path
from keel.testing import TestClient
from tests.problems import problem


def test_hello_world_five_lines() -> None:
    app = App()

    @app.get("/")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    r = TestClient(app).get("/")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"hello": "world"}


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


def make_app() -> App:
    app = App()

    @app.get("/items/{item_id}")
    def get_item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    @app.get("/price/{value}")
    def price(value: float) -> dict[str, float]:
        return {"value": value}

    @app.get("/obj/{oid}")
    def obj(oid: uuid.UUID) -> dict[str, str]:
        return {"oid": str(oid)}

    @app.get("/color/{color}")
    def color(color: Color) -> dict[str, str]:
        return {"color": color.value}

    @app.get("/files/{rest:path}")
    def files(rest: str) -> dict[str, str]:
        return {"rest": rest}

    @app.get("/typed/{n:int}")
    def typed(n):  # type: ignore[no-untyped-def]
        return {"n": n}

    @app.route("/multi", methods=["GET", "POST"])
    def multi() -> dict[str, bool]:
        return {"ok": True}

    return app


@pytest.fixture
def client() -> TestClient:
    return TestClient(make_app())


def test_path_conversion(client: TestClient) -> None:
    assert client.get("/items/42").json() == {"item_id": 42}
    assert client.get("/price/2.5").json() == {"value": 2.5}
    oid = uuid.uuid4()
    assert client.get(f"/obj/{oid}").json() == {"oid": str(oid)}
    assert client.get("/color/red").json() == {"color": "red"}
    assert client.get("/files/a/b/c.txt").json() == {"rest": "a/b/c.txt"}
    assert client.get("/typed/7").json() == {"n": 7}


def test_path_conversion_errors(client: TestClient) -> None:
    assert problem(client.get("/items/abc"), 422)["errors"][0]["loc"] == ["path", "item_id"]
    assert problem(client.get("/color/green"), 422)["errors"][0]["loc"] == ["path", "color"]
    assert problem(client.get("/obj/not-a-uuid"), 422)["errors"][0]["loc"] == ["path", "oid"]
    # a template converter restricts matching: not an int -> no route
    problem(client.get("/typed/x"), 404)


def test_huge_int_path_is_422_not_500(client: TestClient) -> None:
    assert problem(client.get("/items/" + "9" * 5000), 422)["errors"][0]["type"] == (
        "int_parsing_size"
    )
    problem(client.get("/typed/" + "9" * 5000), 422)


def test_unknown_path_and_method(client: TestClient) -> None:
    problem(client.get("/nope"), 404)
    r = client.delete("/items/1")
    assert problem(r, 405)["title"] == "Method Not Allowed"
    assert r.headers["allow"] == "GET, HEAD, OPTIONS"


def test_multi_method_route(client: TestClient) -> None:
    assert client.get("/multi").json() == {"ok": True}
    assert client.post("/multi").json() == {"ok": True}
    problem(client.put("/multi"), 405)


def test_head_is_answered_for_get(client: TestClient) -> None:
    r = client.head("/items/3")
    assert r.status_code == 200
    assert r.content == b""
    assert r.headers["content-length"] == str(len(b'{"item_id":3}'))


def test_options_lists_methods(client: TestClient) -> None:
    r = client.options("/multi")
    assert r.status_code == 204
    assert r.headers["allow"] == "GET, HEAD, OPTIONS, POST"


def test_percent_encoded_garbage_in_path(client: TestClient) -> None:
    for path, status in (("/items/%ff%fe", 422), ("/items/%00", 422), ("/%ZZ", 404)):
        problem(client.get(path), status)
    problem(client.get("/items/%"), 422)
    # a str path parameter takes the decoded text; invalid UTF-8 never crashes serialization
    r = client.get("/files/%c0%af../etc")
    assert r.status_code == 200
    assert r.json()["rest"].endswith("../etc")


def test_trailing_slash_redirect(client: TestClient) -> None:
    r = client.get("/items/3/", follow_redirects=False)
    assert r.status_code == 307
    assert r.headers["location"] == "/items/3"
    assert client.get("/items/3/").json() == {"item_id": 3}


def test_routers_nest_with_prefixes_and_tags() -> None:
    app = App()
    inner = Router(prefix="/inner", tags=["inner"])
    outer = Router(prefix="/outer", tags=["outer"])

    @inner.get("/{x}")
    async def leaf(x: int) -> dict[str, int]:
        return {"x": x}

    outer.include(inner)
    app.include(outer, prefix="/v1")
    r = TestClient(app).get("/v1/outer/inner/5")
    assert r.json() == {"x": 5}
    route = next(r for r in app.routes if r.name == "leaf")
    assert route.path == "/v1/outer/inner/{x}"
    assert route.tags == ["outer", "inner"]


def test_fastapi_spellings() -> None:
    from keel import APIRouter, HTTPException

    app = App()
    router = APIRouter()

    @router.get("/x", status_code=202)
    async def x() -> dict[str, str]:
        raise HTTPException(status_code=418, detail="teapot")

    app.include_router(router, prefix="/api")
    r = TestClient(app).get("/api/x")
    assert r.status_code == 418
    assert r.json()["detail"] == "teapot"


def test_url_path_for() -> None:
    app = make_app()
    assert app.url_path_for("get_item", item_id=3) == "/items/3"
    assert app.url_path_for("files", rest="a b/c") == "/files/a%20b/c"
    assert app.url_path_for("color", color=Color.RED) == "/color/red"
    with pytest.raises(NoMatchFound):
        app.url_path_for("get_item")
    with pytest.raises(NoMatchFound):
        app.url_path_for("missing")


def test_request_url_for() -> None:
    app = App()

    @app.get("/things/{tid}", name="thing")
    async def thing(tid: int, request: Request) -> dict[str, str]:
        return {"self": str(request.url_for("thing", tid=tid))}

    assert TestClient(app).get("/things/9").json() == {"self": "http://testserver/things/9"}


def test_compile_path() -> None:
    regex, fmt, names, _ = compile_path("/a/{b:int}/{c}")
    assert regex is not None and regex.match("/a/1/x")
    assert fmt == "/a/{b}/{c}"
    assert names == {"b": int, "c": str}
    with pytest.raises(ValueError, match="Unknown path converter"):
        compile_path("/a/{b:nope}")
    with pytest.raises(ValueError, match="start with"):
        compile_path("a")


def test_duplicate_route_is_an_error() -> None:
    app = App()

    @app.get("/a")
    async def one() -> None: ...

    @app.get("/a")
    async def two() -> None: ...

    with pytest.raises(ValueError, match="Two routes"):
        app.build()


def test_websocket_without_route_is_refused() -> None:
    import asyncio

    app = App()
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    asyncio.run(app({"type": "websocket", "path": "/ws", "headers": []}, receive, send))
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "No such endpoint"}]


def test_route_order_and_segment_index() -> None:
    app = App()

    @app.get("/users/me")
    async def me() -> str:
        return "me"

    @app.get("/users/{uid}")
    async def user(uid: int) -> str:
        return f"user {uid}"

    @app.get("/a.b/{c}")
    async def dotted(c: str) -> str:
        return f"dotted {c}"

    @app.get("/{kind}/{uid}")
    async def anything(kind: str, uid: str) -> str:
        return f"{kind} {uid}"

    @app.get("/later/{c}")
    async def later(c: str) -> str:
        return f"LATER {c}"

    @app.get("/users/{uid}/posts/{pid}")
    async def post(uid: int, pid: int) -> str:
        return f"post {uid} {pid}"

    @app.get("/x{n:int}")
    async def glued(n: int) -> str:
        return f"glued {n}"

    client = TestClient(app)
    assert client.get("/users/me").json() == "me"
    assert client.get("/users/3").json() == "user 3"
    problem(client.get("/users/abc"), 422)  # first match wins, as in Starlette
    assert client.get("/things/3").json() == "things 3"
    assert client.get("/a.b/z").json() == "dotted z"
    assert client.get("/aXb/z").json() == "aXb z"
    assert client.get("/users/1/posts/2").json() == "post 1 2"
    assert client.get("/x12").json() == "glued 12"
    assert client.get("/later/1").json() == "later 1"  # shadowed: /{kind}/{uid} came first
