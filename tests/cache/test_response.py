"""The route response cache (memory): hits, ETag/304, Vary, and what is never shared."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

import pytest

from keel import App, Cookie, Depends, Request, Response, Settings
from keel.cache import ResponseCache
from keel.responses import JSONResponse, StreamingResponse
from keel.routing import Route
from keel.security import HTTPAuthorizationCredentials, HTTPBearer
from keel.testing import AsyncTestClient, TestClient

bearer = HTTPBearer(auto_error=False)


def counting_app(ttl: float = 60) -> tuple[App, dict[str, int]]:
    app = App(settings=Settings(cache_url="mem://"))
    calls = {"n": 0}

    @app.get("/n", cache=ttl)
    async def n(q: str = "") -> dict[str, object]:
        calls["n"] += 1
        return {"n": calls["n"], "q": q}

    return app, calls


def test_second_get_is_served_from_the_cache_with_etag_and_max_age() -> None:
    app, calls = counting_app()
    client = TestClient(app)
    first = client.get("/n")
    second = client.get("/n")
    assert first.json() == second.json() == {"n": 1, "q": ""}
    assert calls["n"] == 1
    assert first.headers["etag"].startswith('W/"')
    assert second.headers["etag"] == first.headers["etag"]
    assert first.headers["cache-control"] == "max-age=60"
    assert second.headers["cache-control"] in ("max-age=60", "max-age=59")
    assert second.headers["x-content-type-options"] == "nosniff"  # still through the guard


def test_query_strings_are_separate_entries() -> None:
    app, calls = counting_app()
    client = TestClient(app)
    assert client.get("/n?q=a").json()["q"] == "a"
    assert client.get("/n?q=b").json()["q"] == "b"
    assert client.get("/n?q=a").json() == {"n": 1, "q": "a"}
    assert calls["n"] == 2


def test_if_none_match_gets_304_without_a_body() -> None:
    app, _ = counting_app()
    client = TestClient(app)
    etag = client.get("/n").headers["etag"]
    for header in (etag, etag.removeprefix("W/"), f'"other", {etag}', "*"):
        answer = client.get("/n", headers={"if-none-match": header})
        assert answer.status_code == 304, header
        assert answer.content == b""
        assert answer.headers["etag"] == etag
        assert answer.headers["cache-control"].startswith("max-age=")
        assert "content-type" not in answer.headers
    assert client.get("/n", headers={"if-none-match": '"other"'}).status_code == 200


def test_the_first_answer_already_honours_if_none_match() -> None:
    app, _ = counting_app()
    etag = TestClient(app).get("/n").headers["etag"]
    fresh, _ = counting_app()  # same body, empty cache: the miss compares too
    assert TestClient(fresh).get("/n", headers={"if-none-match": etag}).status_code == 304


@pytest.mark.parametrize(
    "header",
    ["garbage", "W/", '"unterminated', 'W/"x" junk', ",,,", "W/W/W/", '"' * 5000, "x" * 20000],
)
def test_malformed_if_none_match_is_a_plain_200(header: str) -> None:
    app, _ = counting_app()
    client = TestClient(app)
    client.get("/n")
    for _ in range(2):  # a miss and a hit
        answer = client.get("/n", headers={"if-none-match": header})
        assert answer.status_code == 200
        assert answer.json() == {"n": 1, "q": ""}


def test_non_latin_if_none_match_bytes_are_a_plain_200() -> None:
    app, _ = counting_app()
    client = TestClient(app)
    answer = client.get("/n", headers=[(b"if-none-match", b'"\xff\xfe"')])
    assert answer.status_code == 200


def test_head_is_answered_from_a_get_entry_and_a_head_miss_stores_nothing() -> None:
    app, calls = counting_app()
    client = TestClient(app)
    head = client.head("/n")
    assert head.status_code == 200 and head.content == b""
    assert calls["n"] == 1
    body = client.get("/n").json()
    assert body["n"] == 2  # the HEAD kept nothing
    again = client.head("/n")
    assert again.content == b"" and again.headers["etag"]
    assert calls["n"] == 2


def test_only_get_200s_are_kept() -> None:
    app = App()
    calls = {"get": 0, "post": 0, "missing": 0}

    @app.route("/both", methods=["GET", "POST"], cache=60)
    async def both(request: Request) -> dict[str, int]:
        calls[request.method.lower()] += 1
        return calls

    @app.get("/missing", cache=60)
    async def missing() -> Response:
        calls["missing"] += 1
        return JSONResponse({"detail": "gone"}, 404)

    client = TestClient(app)
    for _ in range(2):
        client.post("/both")
        assert client.get("/missing").status_code == 404
    assert calls["post"] == 2 and calls["missing"] == 2
    assert "etag" not in client.get("/missing").headers


def test_a_response_that_sets_a_cookie_is_private_and_not_kept() -> None:
    app = App()
    calls = {"n": 0}

    @app.get("/hello", cache=60)
    async def hello(response: Response) -> dict[str, int]:
        calls["n"] += 1
        response.set_cookie("seen", "1")
        return calls

    client = TestClient(app)
    first = client.get("/hello")
    second = TestClient(app).get("/hello")
    assert first.json() == {"n": 1} and second.json() == {"n": 2}
    assert first.headers["cache-control"] == "private"


def test_handler_cache_control_is_respected() -> None:
    app = App()
    calls = {"nostore": 0, "public": 0}

    @app.get("/nostore", cache=60)
    async def nostore() -> Response:
        calls["nostore"] += 1
        return JSONResponse(calls, headers={"cache-control": "no-store"})

    @app.get("/public", cache=60)
    async def public() -> Response:
        calls["public"] += 1
        return JSONResponse(calls, headers={"cache-control": "public, max-age=300"})

    client = TestClient(app)
    for _ in range(2):
        assert client.get("/nostore").headers["cache-control"] == "no-store"
        assert client.get("/public").headers["cache-control"] == "public, max-age=300"
    assert calls == {"nostore": 2, "public": 1}


def test_vary_option_keeps_one_entry_per_header_value() -> None:
    app = App()
    calls = {"n": 0}

    @app.get("/greet", cache=ResponseCache(60, vary=["Accept-Language"]))
    async def greet(request: Request) -> dict[str, str]:
        calls["n"] += 1
        lang = request.headers.get("accept-language", "en")
        return {"hello": "bonjour" if lang.startswith("fr") else "hello"}

    client = TestClient(app)
    fr = {"accept-language": "fr"}
    first = client.get("/greet", headers=fr)
    assert first.json() == {"hello": "bonjour"}
    assert first.headers["vary"] == "accept-language"  # downstream caches are told
    assert client.get("/greet").json() == {"hello": "hello"}
    assert client.get("/greet", headers=fr).json() == {"hello": "bonjour"}
    assert client.get("/greet").json() == {"hello": "hello"}
    assert calls["n"] == 2


def test_vary_header_of_the_handler_is_honoured_and_vary_star_never_kept() -> None:
    app = App()
    calls = {"vary": 0, "star": 0}

    @app.get("/accept", cache=60)
    async def accept(request: Request) -> Response:
        calls["vary"] += 1
        kind = request.headers.get("accept", "")
        return JSONResponse({"accept": kind}, headers={"vary": "Accept"})

    @app.get("/star", cache=60)
    async def star() -> Response:
        calls["star"] += 1
        return JSONResponse(calls, headers={"vary": "*"})

    client = TestClient(app)
    for _ in range(2):
        assert client.get("/accept", headers={"accept": "a/b"}).json() == {"accept": "a/b"}
        assert client.get("/accept", headers={"accept": "c/d"}).json() == {"accept": "c/d"}
        client.get("/star")
    assert calls == {"vary": 2, "star": 2}


def session_app() -> tuple[App, dict[str, int]]:
    app = App()
    calls = {"me": 0}

    @app.post("/login/{name}")
    async def login(name: str, request: Request) -> dict[str, str]:
        request.session["user"] = name
        return {"user": name}

    @app.get("/me", cache=60)
    async def me(request: Request) -> dict[str, str]:
        calls["me"] += 1
        return {"user": request.session.get("user", "anonymous")}

    return app, calls


def test_session_users_never_get_each_others_page() -> None:
    app, calls = session_app()
    anonymous = TestClient(app)
    alice, bob = TestClient(app), TestClient(app)
    assert anonymous.get("/me").json() == {"user": "anonymous"}
    alice.post("/login/alice")
    bob.post("/login/bob")
    for _ in range(2):
        a, b = alice.get("/me"), bob.get("/me")
        assert a.json() == {"user": "alice"}
        assert b.json() == {"user": "bob"}
        assert a.headers["cache-control"] == b.headers["cache-control"] == "private"
        assert anonymous.get("/me").json() == {"user": "anonymous"}
    # the anonymous page is shared between visitors without cookies, and only with them
    assert calls["me"] == 1 + 4
    assert TestClient(app).get("/me").headers["cache-control"].startswith("max-age=")


def test_authorization_users_never_get_each_others_answer() -> None:
    app = App()
    calls = {"n": 0}

    @app.get("/whoami", cache=60)
    async def whoami(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> dict[str, str]:
        calls["n"] += 1
        return {"user": credentials.credentials if credentials else "anonymous"}

    client = TestClient(app)
    assert client.get("/whoami").json() == {"user": "anonymous"}
    for _ in range(2):
        for token in ("alice", "bob"):
            answer = client.get("/whoami", headers={"authorization": f"Bearer {token}"})
            assert answer.json() == {"user": token}
            assert answer.headers["cache-control"] == "private"
        assert client.get("/whoami").json() == {"user": "anonymous"}
    assert calls["n"] == 1 + 4


def test_private_answers_still_get_their_own_304() -> None:
    app, _ = session_app()
    alice = TestClient(app)
    alice.post("/login/alice")
    etag = alice.get("/me").headers["etag"]
    assert alice.get("/me", headers={"if-none-match": etag}).status_code == 304
    bob = TestClient(app)
    bob.post("/login/bob")
    assert bob.get("/me", headers={"if-none-match": etag}).status_code == 200


def test_reading_cookies_makes_the_answer_private() -> None:
    app = App()
    calls = {"raw": 0, "param": 0}

    @app.get("/theme", cache=60)
    async def theme(request: Request) -> dict[str, str]:
        calls["raw"] += 1
        return {"theme": request.cookies.get("theme", "light")}

    @app.get("/theme2", cache=60)
    async def theme2(theme: Annotated[str, Cookie()] = "light") -> dict[str, str]:
        calls["param"] += 1
        return {"theme": theme}

    client = TestClient(app)
    for path in ("/theme", "/theme2"):
        assert client.get(path).json() == {"theme": "light"}
        dark = client.get(path, headers={"cookie": "theme=dark"})
        assert dark.json() == {"theme": "dark"}
        assert dark.headers["cache-control"] == "private"
        assert client.get(path, headers={"cookie": "theme=blue"}).json() == {"theme": "blue"}
        assert client.get(path).json() == {"theme": "light"}  # the anonymous entry
    assert calls == {"raw": 3, "param": 3}


def test_cookies_the_handler_ignores_do_not_stop_sharing() -> None:
    app, calls = counting_app()
    client = TestClient(app)
    assert client.get("/n", headers={"cookie": "tracking=1"}).json()["n"] == 1
    assert client.get("/n").json()["n"] == 1
    assert client.get("/n", headers={"cookie": "tracking=2"}).json()["n"] == 1
    assert calls["n"] == 1


def test_streams_are_not_held_back_or_kept() -> None:
    app = App()
    calls = {"n": 0}

    @app.get("/stream", cache=60)
    async def stream() -> StreamingResponse:
        calls["n"] += 1

        async def chunks() -> AsyncIterator[bytes]:
            yield b"a"
            yield b"b"

        return StreamingResponse(chunks(), media_type="text/plain")

    client = TestClient(app)
    assert client.get("/stream").text == "ab"
    assert client.get("/stream").text == "ab"
    assert calls["n"] == 2


def test_answers_over_max_size_pass_through() -> None:
    app = App()
    calls = {"n": 0}

    @app.get("/big", cache=ResponseCache(60, max_size=10))
    async def big() -> dict[str, str]:
        calls["n"] += 1
        return {"data": "x" * 100}

    client = TestClient(app)
    client.get("/big")
    assert "etag" not in client.get("/big").headers
    assert calls["n"] == 2


def test_concurrent_misses_run_the_handler_once() -> None:
    app = App()
    calls = {"n": 0}

    @app.get("/slow", cache=60)
    async def slow() -> dict[str, int]:
        calls["n"] += 1
        await asyncio.sleep(0.05)
        return calls

    async def scenario() -> list[int]:
        async with AsyncTestClient(app) as client:
            answers = await asyncio.gather(*(client.get("/slow") for _ in range(10)))
        return [a.json()["n"] for a in answers]

    assert asyncio.run(scenario()) == [1] * 10
    assert calls["n"] == 1


def test_expired_entries_are_made_again() -> None:
    app, calls = counting_app(ttl=0.05)
    client = TestClient(app)
    client.get("/n")
    client.run(asyncio.sleep(0.1))
    assert client.get("/n").json()["n"] == 2


def test_bad_cache_options_are_refused_when_the_route_is_declared() -> None:
    app = App()

    async def handler() -> None:
        return None

    for bad in (0, -1, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="positive"):
            app.add_route("/x", handler, cache=bad)
    for wrong in ("60", True, [60]):
        with pytest.raises(TypeError, match="cache= takes seconds"):
            app.add_route("/x", handler, cache=wrong)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="never shared"):
        ResponseCache(60, vary=["Cookie"])
    with pytest.raises(ValueError, match="positive"):
        ResponseCache(0)


def test_routes_without_cache_are_not_wrapped() -> None:
    from keel._endpoint import Endpoint

    app, _ = counting_app()

    @app.get("/plain")
    async def plain() -> None:
        return None

    app.build()
    routes: dict[str, Route] = {r.path: r for r in app.routes}
    assert type(routes["/plain"].compiled) is Endpoint
    assert type(routes["/n"].compiled) is not Endpoint


def test_a_user_loaded_from_the_session_unseen_is_never_shared() -> None:
    """keel.auth reads ``session.data`` (not marking the session accessed) and attaches the
    user to the scope: the cache must still keep each user's page to themselves."""
    app = App()
    calls = {"n": 0}

    async def attach_user(request: Request) -> None:
        name = request.scope["session"].data.get("user")  # unseen by session.accessed
        if name:
            request.scope["user"] = name

    @app.post("/login/{name}")
    async def login(name: str, request: Request) -> dict[str, str]:
        request.session["user"] = name
        return {"user": name}

    @app.get("/home", cache=60, dependencies=[Depends(attach_user)])
    async def home(request: Request) -> dict[str, str]:
        calls["n"] += 1
        return {"user": str(request.scope.get("user") or "anonymous")}

    anonymous, alice, bob = TestClient(app), TestClient(app), TestClient(app)
    assert anonymous.get("/home").json() == {"user": "anonymous"}
    alice.post("/login/alice")
    bob.post("/login/bob")
    for _ in range(2):
        a, b = alice.get("/home"), bob.get("/home")
        assert a.json() == {"user": "alice"} and b.json() == {"user": "bob"}
        assert a.headers["cache-control"] == "private"
        assert anonymous.get("/home").json() == {"user": "anonymous"}
    assert calls["n"] == 1 + 4


def test_a_user_attached_without_a_session_is_never_shared() -> None:
    app = App()

    async def attach_user(request: Request) -> None:
        user = request.headers.get("x-user")  # some other authentication
        if user:
            request.scope["user"] = user

    @app.get("/home", cache=60, dependencies=[Depends(attach_user)])
    async def home(request: Request) -> dict[str, str]:
        return {"user": str(request.scope.get("user") or "anonymous")}

    client = TestClient(app)
    mine = client.get("/home", headers={"x-user": "alice"})
    assert mine.json() == {"user": "alice"}
    assert mine.headers["cache-control"] == "private"
    assert client.get("/home").json() == {"user": "anonymous"}


@pytest.mark.parametrize("raw", ["%FF", "%ED%A0%80", "%00", "a%0Ab", "%C3%A9t%C3%A9", "x" * 3000])
def test_odd_paths_and_queries_are_answered_not_500(raw: str) -> None:
    app = App()

    @app.get("/echo/{name}", cache=60)
    async def echo(name: str) -> dict[str, str]:
        return {"name": name}

    client = TestClient(app)
    for _ in range(2):  # a miss, then a hit
        answer = client.get(f"/echo/{raw}?q={raw}")
        assert answer.status_code == 200, answer.text
        assert "name" in answer.json()


def test_the_core_hook_takes_any_route_cache() -> None:
    """``cache=`` takes any object with ``wrap`` (keel.routing.RouteCache): the core calls
    it once at compile time and names no battery."""
    from keel._types import ASGIApp, Message, Receive, Scope, Send

    wrapped: list[str] = []

    class Tagging:
        def wrap(self, endpoint: ASGIApp, route: Route, app: object) -> ASGIApp:
            wrapped.append(route.path)

            async def tagged(scope: Scope, receive: Receive, send: Send) -> None:
                async def add_tag(message: Message) -> None:
                    if message["type"] == "http.response.start":
                        message["headers"] = [*message["headers"], (b"x-tag", b"1")]
                    await send(message)

                await endpoint(scope, receive, add_tag)

            return tagged

    app = App()

    @app.get("/t", cache=Tagging())
    async def t() -> dict[str, bool]:
        return {"ok": True}

    client = TestClient(app)
    assert client.get("/t").headers["x-tag"] == "1"
    assert client.get("/t").headers["x-tag"] == "1"
    assert wrapped == ["/t"]
