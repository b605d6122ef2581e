from __future__ import annotations

import asyncio
import enum
import json
import uuid
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from keel import App, Request, Router
from keel.responses import Response
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
    template = compile_path("/a/{b:int}/{c}")
    assert template.regex is not None and template.regex.match("/a/1/x")
    assert template.format == "/a/{b}/{c}"
    assert template.param_types == {"b": int, "c": str}
    assert template.prefix == "/a/"
    assert compile_path("/x{n:int}").prefix == "/x"
    static = compile_path("/a/b")
    assert static.regex is None and static.prefix == "/a/b"
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

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    scope = {"type": "websocket", "path": "/ws", "headers": [(b"host", b"testserver")]}
    asyncio.run(app(scope, receive, send))
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


# -- the route table: matching order, mounts, includes ---------------------------------------


async def _echo_mount(scope: Any, receive: Any, send: Any) -> None:
    """A tiny mounted ASGI app that reports where it was reached."""
    body = json.dumps({"mounted": scope["root_path"], "path": scope["path"]}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


@pytest.mark.parametrize("mount_first", [True, False])
def test_mount_is_not_shadowed_by_a_templated_route(mount_first: bool, tmp_path: Any) -> None:
    from keel.staticfiles import StaticFiles

    (tmp_path / "app.css").write_text("body {}")
    app = App()
    if mount_first:
        app.mount("/static", StaticFiles(directory=tmp_path))

    @app.get("/{kind}/{name}")
    async def thing(kind: str, name: str) -> dict[str, str]:
        return {"kind": kind, "name": name}

    if not mount_first:
        app.mount("/static", StaticFiles(directory=tmp_path))
    client = TestClient(app)
    r = client.get("/static/app.css")
    assert r.status_code == 200
    assert r.text == "body {}"
    assert client.get("/books/dune").json() == {"kind": "books", "name": "dune"}


def test_exact_static_route_beats_mount_and_longest_mount_wins() -> None:
    app = App()
    app.mount("/api", _echo_mount)
    app.mount("/api/legacy", _echo_mount)

    @app.get("/api/health")
    async def health() -> str:
        return "ok"

    client = TestClient(app)
    assert client.get("/api/health").json() == "ok"
    assert client.get("/api/users").json() == {"mounted": "/api", "path": "/api/users"}
    assert client.get("/api/legacy/x").json() == {
        "mounted": "/api/legacy",
        "path": "/api/legacy/x",
    }
    # a different method on the static path goes on to the mount
    assert client.post("/api/health").json()["mounted"] == "/api"


def test_templated_route_inside_a_mount_is_an_error() -> None:
    app = App()
    app.mount("/static", _echo_mount)

    @app.get("/static/{name}")
    async def never(name: str) -> str:
        return name

    with pytest.raises(ValueError, match="mount '/static'"):
        app.build()


def test_route_added_to_a_router_after_include() -> None:
    app = App()
    router = Router(prefix="/r", tags=["r"])
    inner = Router(prefix="/inner")
    router.include(inner)
    app.include(router, prefix="/v1")
    client = TestClient(app)
    problem(client.get("/v1/r/late/1"), 404)  # the app has compiled its table already

    @router.get("/late/{n}")
    async def late(n: int) -> dict[str, int]:
        return {"n": n}

    @inner.get("/deep")
    async def deep() -> str:
        return "deep"

    assert client.get("/v1/r/late/1").json() == {"n": 1}
    assert client.get("/v1/r/inner/deep").json() == "deep"
    router.mount("/files", _echo_mount)
    assert client.get("/v1/r/files/a").json() == {"mounted": "/v1/r/files", "path": "/v1/r/files/a"}
    assert app.url_path_for("late", n=2) == "/v1/r/late/2"
    assert router.url_path_for("late", n=2) == "/r/late/2"
    assert app.url_path_for("deep") == "/v1/r/inner/deep"
    route = next(r for r in app.routes if r.name == "late")
    assert route.tags == ["r"]


def test_including_a_router_twice_and_in_itself() -> None:
    app = App()
    router = Router()

    @router.get("/items/{n}")
    async def item(n: int) -> int:
        return n

    app.include(router, prefix="/v1")
    app.include(router, prefix="/v2")
    client = TestClient(app)
    assert client.get("/v1/items/1").json() == 1
    assert client.get("/v2/items/2").json() == 2
    with pytest.raises(ValueError, match="itself"):
        router.include(router)
    outer = Router()
    outer.include(router)
    with pytest.raises(ValueError, match="itself"):
        router.include(outer)


class _WebSocketRoute:
    """A websocket route object with the documented protocol (accepts, sends params)."""

    def __init__(self, path: str, name: str) -> None:
        self.path = path
        self.name = name

    def compile(self, app: Any) -> None:
        """Nothing to compile."""

    def with_prefix(self, prefix: str, dependencies: Any) -> _WebSocketRoute:
        return _WebSocketRoute(prefix + self.path, self.name)

    def url_path(self, params: dict[str, Any]) -> str:
        return self.path.format(**params)

    async def handle(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": json.dumps(scope.get("path_params", {}))})


def _websocket(app: App, path: str) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, object]:
        return {"type": "websocket.connect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    scope = {
        "type": "websocket",
        "path": path,
        "headers": [(b"host", b"testserver")],
        "root_path": "",
    }
    asyncio.run(app(scope, receive, send))
    return sent


def test_websocket_route_added_after_include() -> None:
    app = App()
    router = Router(prefix="/chat")
    app.include(router)
    assert _websocket(app, "/chat/lobby")[0]["type"] == "websocket.close"
    router.add_websocket_route(_WebSocketRoute("/{room}", "room"))
    router.add_websocket_route(_WebSocketRoute("/static", "static"))
    assert _websocket(app, "/chat/lobby")[1]["text"] == '{"room": "lobby"}'
    assert _websocket(app, "/chat/static")[1]["text"] == "{}"
    assert app.url_path_for("room", room="x") == "/chat/x"


def test_converters_and_mixed_segments() -> None:
    app = App()
    seen: list[tuple[str, Any]] = []

    def add(path: str, name: str) -> None:
        async def endpoint(request: Request) -> dict[str, str]:
            seen.append((name, request.path_params))
            return dict(request.path_params)

        app.add_route(path, endpoint, ["GET"], name=name)

    add("/n/{v:int}", "int")
    add("/n/{v:float}", "float")
    add("/n/{v:uuid}", "uuid")
    add("/n/{v}", "str")
    add("/files/{name}.{ext}", "file")
    add("/x{n:int}y/{rest:path}", "glued")
    add("/a/{p:path}/edit", "edit")
    add("/v{major:int}.{minor:int}/info", "version")
    client = TestClient(app)
    oid = uuid.uuid4()
    cases = {
        "/n/12": ("int", {"v": "12"}),
        "/n/1.5": ("float", {"v": "1.5"}),
        f"/n/{oid}": ("uuid", {"v": str(oid)}),
        "/n/abc": ("str", {"v": "abc"}),
        "/files/report.tar.gz": ("file", {"name": "report.tar", "ext": "gz"}),
        "/x12y/a/b": ("glued", {"n": "12", "rest": "a/b"}),
        "/x12y/": ("glued", {"n": "12", "rest": ""}),
        "/a/b/c/edit": ("edit", {"p": "b/c"}),
        "/v2.10/info": ("version", {"major": "2", "minor": "10"}),
    }
    for path, (name, params) in cases.items():
        seen.clear()
        assert client.get(path).json() == params, path
        assert seen[0][0] == name, path
    for path in ("/files/noext", "/xay/b", "/a/edit", "/v2/info", "/n/", "/n"):
        problem(client.get(path), 404)
    assert client.get("/x12y", follow_redirects=False).headers["location"] == "/x12y/"


def test_two_matching_templated_routes_keep_registration_order() -> None:
    for first, second in (("/{a}/x", "/y/{b}"), ("/y/{b}", "/{a}/x")):
        app = App()

        @app.get(first)
        async def one(request: Request) -> str:
            return "first"

        @app.get(second)
        async def two(request: Request) -> str:
            return "second"

        client = TestClient(app)
        assert client.get("/y/x").json() == "first"


def test_method_is_matched_across_trie_branches() -> None:
    app = App(redirect_slashes=False)

    @app.get("/{a}/x")
    async def read(a: str) -> str:
        return f"read {a}"

    @app.post("/y/{b}")
    async def write(b: str) -> str:
        return f"write {b}"

    @app.post("/login")
    async def login() -> str:
        return "login"

    @app.get("/{page}")
    async def page(page: str) -> str:
        return f"page {page}"

    client = TestClient(app)
    assert client.get("/y/x").json() == "read y"
    assert client.post("/y/x").json() == "write x"
    r = client.put("/y/x")
    assert problem(r, 405)["status"] == 405
    assert r.headers["allow"] == "GET, HEAD, OPTIONS, POST"
    r = client.options("/y/x")
    assert r.status_code == 204
    assert r.headers["allow"] == "GET, HEAD, OPTIONS, POST"
    assert client.post("/login").json() == "login"
    assert client.get("/login").json() == "page login"
    assert client.delete("/login").headers["allow"] == "GET, HEAD, OPTIONS, POST"


def test_redirect_slashes_with_templated_routes() -> None:
    app = App()

    @app.get("/items/{n:int}")
    async def item(n: int) -> int:
        return n

    @app.get("/dirs/{name}/")
    async def folder(name: str) -> str:
        return name

    @app.post("/posts/{n}")
    async def post(n: str) -> str:
        return n

    client = TestClient(app)
    r = client.get("/items/3/?q=1", follow_redirects=False)
    assert r.status_code == 307
    assert r.headers["location"] == "/items/3?q=1"
    r = client.get("/dirs/a", follow_redirects=False)
    assert r.status_code == 307
    assert r.headers["location"] == "/dirs/a/"
    assert client.head("/dirs/a", follow_redirects=False).status_code == 307
    problem(client.get("/items/x/", follow_redirects=False), 404)  # the other form is no route
    r = client.post("/posts/1/", follow_redirects=False)  # every method redirects, with 307
    assert (r.status_code, r.headers["location"]) == (307, "/posts/1")
    assert client.post("/posts/1/").json() == "1"  # the client resends the POST
    problem(client.get("/posts/1/", follow_redirects=False), 404)  # no GET route either way


def test_duplicate_templated_routes_and_explicit_head() -> None:
    app = App()

    @app.get("/items/{item_id}")
    async def one(item_id: str) -> None: ...

    @app.get("/items/{other}")
    async def two(other: str) -> None: ...

    with pytest.raises(ValueError, match="Two routes for GET /items/{other}"):
        app.build()

    app = App()

    @app.get("/page/{n}")
    async def page(n: str) -> str:
        return "get"

    @app.head("/page/{n}")
    async def page_head(n: str) -> Response:
        return Response(b"", headers={"x-head": "explicit"})

    client = TestClient(app)
    assert client.get("/page/1").json() == "get"
    assert client.head("/page/1").headers["x-head"] == "explicit"


def test_router_lists_are_read_only_views() -> None:
    # resolved views: appending to them would be lost, so they are tuples
    router = Router()
    assert isinstance(router.routes, tuple)
    assert isinstance(router.websocket_routes, tuple)
    assert isinstance(router.mounts, tuple)


def test_many_routes_sharing_a_prefix_match_the_right_one() -> None:
    app = App()
    for i in range(300):

        async def endpoint(request: Request) -> str:
            return str(request.scope["route"].name)

        app.add_route(f"/api/v1/items{i}/{{id:int}}", endpoint, ["GET"], name=f"items{i}")
    client = TestClient(app)
    assert client.get("/api/v1/items299/1").json() == "items299"
    assert client.get("/api/v1/items7/1").json() == "items7"
    problem(client.get("/api/v1/items300/1"), 404)
    problem(client.get("/api/v1/items7/x"), 404)


def test_catch_all_route_keeps_its_place() -> None:
    app = App()

    @app.get("/api/{name}")
    async def api(name: str) -> str:
        return f"api {name}"

    @app.get("/{rest:path}")
    async def spa(rest: str) -> str:
        return f"spa {rest}"

    @app.get("/late/{name}")
    async def late(name: str) -> str:
        return f"late {name}"

    client = TestClient(app)
    assert client.get("/api/x").json() == "api x"
    assert client.get("/api/x/y").json() == "spa api/x/y"
    assert client.get("/late/x").json() == "spa late/x"  # the catch-all came first
    assert client.get("/").json() == "spa "
    assert client.head("/api/x").status_code == 200
    r = client.post("/api/x")
    assert r.headers["allow"] == "GET, HEAD, OPTIONS"


def test_include_router_options() -> None:
    from keel.responses import HTMLResponse

    seen: list[str] = []

    def mark() -> None:
        seen.append("included")

    router = Router()
    inner = Router(prefix="/inner")

    @router.get("/a", responses={418: {"description": "own"}})
    async def a() -> str:
        return "<b>a</b>"

    @inner.get("/b")
    async def b() -> str:
        return "b"

    router.include(inner)
    app = App()
    from keel import Depends

    app.include_router(
        router,
        prefix="/r",
        tags=["r"],
        dependencies=[Depends(mark)],
        responses={404: {"description": "Missing"}},
        deprecated=True,
        default_response_class=HTMLResponse,
    )
    app.include_router(Router(), include_in_schema=False)
    hidden = Router()

    @hidden.get("/h")
    async def h() -> str:
        return "h"

    app.include_router(hidden, include_in_schema=False)
    client = TestClient(app)
    r = client.get("/r/a")
    assert (r.text, r.headers["content-type"]) == ("<b>a</b>", "text/html; charset=utf-8")
    assert client.get("/r/inner/b").headers["content-type"].startswith("text/html")
    assert client.get("/h").json() == "h"
    assert seen == ["included", "included"]
    doc = app.openapi()["paths"]
    op = doc["/r/a"]["get"]
    assert op["deprecated"] is True
    assert op["tags"] == ["r"]
    assert set(op["responses"]) >= {"200", "404", "418"}
    assert "/h" not in doc


class Doc(BaseModel):
    name: str
    tax: float | None = None
    tags: list[str] = []
    secret: str = "s"


def test_response_model_dump_options() -> None:
    app = App()

    @app.get("/unset", response_model=Doc, response_model_exclude_unset=True)
    async def unset() -> dict[str, object]:
        return {"name": "a", "tax": None}

    @app.get("/none", response_model=Doc, response_model_exclude_none=True)
    async def none() -> Doc:
        return Doc(name="a")

    @app.get("/defaults", response_model=Doc, response_model_exclude_defaults=True)
    async def defaults() -> Doc:
        return Doc(name="a", tags=[], tax=1.5)

    @app.get("/incl", response_model=Doc, response_model_include={"name"})
    async def incl() -> Doc:
        return Doc(name="a")

    @app.get("/excl", response_model=Doc, response_model_exclude={"secret"})
    async def excl() -> Doc:
        return Doc(name="a")

    @app.get("/untyped", response_model_exclude_none=True)
    async def untyped() -> Any:
        return {"a": 1, "b": None}

    client = TestClient(app)
    assert client.get("/unset").json() == {"name": "a", "tax": None}
    assert client.get("/none").json() == {"name": "a", "tags": [], "secret": "s"}
    assert client.get("/defaults").json() == {"name": "a", "tax": 1.5}
    assert client.get("/incl").json() == {"name": "a"}
    assert client.get("/excl").json() == {"name": "a", "tax": None, "tags": []}
    assert client.get("/untyped").json() == {"a": 1}


def test_redirect_response_class_with_a_returned_url() -> None:
    from keel.responses import RedirectResponse

    app = App()

    @app.get("/docs-link", response_class=RedirectResponse)
    async def docs_link() -> str:
        return "https://example.com/docs"

    @app.get("/moved", response_class=RedirectResponse, status_code=301)
    async def moved() -> str:
        return "/new"

    client = TestClient(app, follow_redirects=False)
    r = client.get("/docs-link")
    assert (r.status_code, r.headers["location"]) == (307, "https://example.com/docs")
    r = client.get("/moved")
    assert (r.status_code, r.headers["location"]) == (301, "/new")


def test_custom_route_classes_are_refused_with_what_to_use() -> None:
    app = App()
    assert app.router is app
    assert app.router.route_class.__name__ == "Route"
    with pytest.raises(TypeError, match=r"@app.middleware\(\"http\"\)"):
        app.router.route_class = type("GzipRoute", (), {})
    with pytest.raises(TypeError, match="no custom route classes"):
        Router().route_class = type("LoggingRoute", (), {})


def test_url_path_for_a_mount_and_the_static_short_form(tmp_path: Path) -> None:
    from keel.routing import NoMatchFound
    from keel.staticfiles import StaticFiles

    app = App()
    api = Router(prefix="/api")
    api.static("/files", tmp_path, name="files")
    app.include(api)
    app.mount("/legacy", StaticFiles(directory=tmp_path), name="legacy")
    assert isinstance(app.mounts[0].app, StaticFiles)
    assert app.url_path_for("files", path="/a b/c.css") == "/api/files/a%20b/c.css"
    assert app.url_path_for("legacy", path="x.js") == "/legacy/x.js"
    assert app.url_path_for("legacy") == "/legacy/"
    with pytest.raises(NoMatchFound):
        app.url_path_for("legacy", other="x")
