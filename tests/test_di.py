# This module deliberately does NOT use `from __future__ import annotations`:
# keel must handle both real and string annotations.
import threading
import time
from typing import Annotated, Any

import pytest

from keel import App, BackgroundTasks, Depends, HTTPError, Request
from keel.responses import Response
from keel.testing import TestClient
from tests.problems import problem


def test_chained_async_sync_and_generator_dependencies() -> None:
    app = App()
    events: list[str] = []

    async def a() -> int:
        return 1

    def b(x: Annotated[int, Depends(a)]) -> int:
        return x + 1

    async def c(y: int = Depends(b)):  # type: ignore[no-untyped-def]
        events.append("c-enter")
        yield y + 1
        events.append("c-exit")

    def d(z: Annotated[int, Depends(c)]):  # type: ignore[no-untyped-def]
        events.append("d-enter")
        yield z * 10
        events.append("d-exit")

    @app.get("/")
    async def handler(value: Annotated[int, Depends(d)]) -> dict[str, int]:
        events.append("handler")
        return {"value": value}

    with TestClient(app) as client:
        assert client.get("/").json() == {"value": 30}
    assert events == ["c-enter", "d-enter", "handler", "d-exit", "c-exit"]


def test_dependency_is_cached_per_request() -> None:
    app = App()
    calls = 0

    async def counter() -> int:
        nonlocal calls
        calls += 1
        return calls

    async def uses(n: Annotated[int, Depends(counter)]) -> int:
        return n

    @app.get("/")
    async def handler(
        a: Annotated[int, Depends(counter)],
        b: Annotated[int, Depends(uses)],
        c: Annotated[int, Depends(counter, use_cache=False)],
    ) -> dict[str, int]:
        return {"a": a, "b": b, "c": c}

    client = TestClient(app)
    assert client.get("/").json() == {"a": 1, "b": 1, "c": 2}
    assert client.get("/").json() == {"a": 3, "b": 3, "c": 4}


def test_dependencies_receive_request_params() -> None:
    app = App()

    def pagination(limit: int = 10, offset: int = 0) -> dict[str, int]:
        return {"limit": limit, "offset": offset}

    @app.get("/items")
    async def items(page: Annotated[dict[str, int], Depends(pagination)]) -> dict[str, int]:
        return page

    client = TestClient(app)
    assert client.get("/items?limit=5").json() == {"limit": 5, "offset": 0}
    assert problem(client.get("/items?limit=x"), 422)["errors"][0]["loc"] == ["query", "limit"]


def test_class_dependency() -> None:
    app = App()

    class Service:
        def __init__(self, request: Request) -> None:
            self.path = request.path

    @app.get("/svc")
    async def svc(service: Annotated[Service, Depends()]) -> dict[str, str]:
        return {"path": service.path}

    assert TestClient(app).get("/svc").json() == {"path": "/svc"}


def test_generator_teardown_runs_after_handler_error() -> None:
    app = App()
    seen: list[Any] = []

    async def resource():  # type: ignore[no-untyped-def]
        try:
            yield "r"
        except HTTPError as exc:
            seen.append(exc.status)
            raise
        finally:
            seen.append("closed")

    @app.get("/")
    async def handler(r: Annotated[str, Depends(resource)]) -> None:
        raise HTTPError(409, "conflict")

    problem(TestClient(app).get("/"), 409)
    assert seen == [409, "closed"]


def test_request_scope_teardown_runs_after_response_sent() -> None:
    app = App()
    order: list[str] = []

    async def dep():  # type: ignore[no-untyped-def]
        yield
        order.append("teardown")

    async def spy_app(scope: Any, receive: Any, send: Any) -> None:
        async def spy_send(message: Any) -> None:
            if message["type"] == "http.response.body":
                order.append("body-sent")
            await send(message)

        await app(scope, receive, spy_send)

    @app.get("/")
    async def handler(_: Annotated[None, Depends(dep)]) -> dict[str, bool]:
        return {"ok": True}

    TestClient(spy_app).get("/")
    assert order == ["body-sent", "teardown"]


def test_function_scope_teardown_error_becomes_the_response() -> None:
    app = App()
    order: list[str] = []

    async def tx():  # type: ignore[no-untyped-def]
        yield "tx"
        order.append("commit")
        raise HTTPError(409, "commit failed")

    @app.post("/")
    async def handler(t: Annotated[str, Depends(tx, scope="function")]) -> dict[str, str]:
        order.append("handler")
        return {"t": t}

    assert problem(TestClient(app).post("/"), 409)["detail"] == "commit failed"
    assert order == ["handler", "commit"]


def test_dependency_overrides_apply_between_requests() -> None:
    app = App()

    async def real() -> str:
        return "real"

    @app.get("/")
    async def handler(v: Annotated[str, Depends(real)]) -> dict[str, str]:
        return {"v": v}

    client = TestClient(app)
    assert client.get("/").json() == {"v": "real"}
    app.dependency_overrides[real] = lambda: "fake"
    assert client.get("/").json() == {"v": "fake"}
    app.dependency_overrides.clear()
    assert client.get("/").json() == {"v": "real"}


def test_route_and_router_dependencies_run_for_side_effects() -> None:
    from keel import Router

    app = App()
    calls: list[str] = []

    async def check_token(x_token: Annotated[str, __import__("keel").Header()]) -> None:
        calls.append(x_token)
        if x_token != "secret":
            raise HTTPError(403, "bad token")

    router = Router(prefix="/admin", dependencies=[Depends(check_token)])

    @router.get("/")
    async def admin() -> dict[str, bool]:
        return {"ok": True}

    app.include(router)
    client = TestClient(app)
    assert client.get("/admin/", headers={"x-token": "secret"}).json() == {"ok": True}
    problem(client.get("/admin/", headers={"x-token": "nope"}), 403)
    assert problem(client.get("/admin/"), 422)["errors"][0]["loc"] == ["header", "x-token"]
    assert calls == ["secret", "nope"]


def test_dependency_cycle_is_reported() -> None:
    app = App()

    def a(x: Any = None) -> None: ...

    def b(y: Annotated[None, Depends(a)]) -> None: ...

    a.__signature__ = __import__("inspect").Signature(  # type: ignore[attr-defined]
        [
            __import__("inspect").Parameter(
                "x",
                __import__("inspect").Parameter.KEYWORD_ONLY,
                annotation=Annotated[None, Depends(b)],
            )
        ]
    )

    @app.get("/")
    async def h(v: Annotated[None, Depends(a)]) -> None: ...

    with pytest.raises(TypeError, match="cycle"):
        app.build()


def test_sync_handlers_do_not_block_the_event_loop() -> None:
    app = App()
    barrier = threading.Barrier(2, timeout=5)

    @app.get("/wait")
    def wait() -> dict[str, bool]:
        barrier.wait()  # both requests must be in their threads at once
        return {"ok": True}

    client = TestClient(app)
    results: list[int] = []

    def go() -> None:
        results.append(client.get("/wait").status_code)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == [200, 200]


def test_background_tasks_run_after_response() -> None:
    app = App()
    done: list[str] = []

    def slow_sync(name: str) -> None:
        time.sleep(0.01)
        done.append(name)

    async def fast_async(name: str) -> None:
        done.append(name)

    @app.post("/")
    async def handler(tasks: BackgroundTasks) -> dict[str, bool]:
        tasks.add_task(slow_sync, "sync")
        tasks.add_task(fast_async, name="async")
        return {"queued": True}

    assert TestClient(app).post("/").json() == {"queued": True}
    assert done == ["sync", "async"]


def test_sub_response_parameter_sets_headers_cookies_and_status() -> None:
    app = App()

    @app.get("/")
    async def handler(response: Response) -> dict[str, bool]:
        response.headers["x-extra"] = "1"
        response.set_cookie("k", "v")
        response.status_code = 202
        return {"ok": True}

    r = TestClient(app).get("/")
    assert r.status_code == 202
    assert r.headers["x-extra"] == "1"
    assert "k=v" in r.headers["set-cookie"]
    assert r.json() == {"ok": True}


def test_unhandled_error_with_generator_dependency_sends_one_response() -> None:
    app = App()
    starts = 0

    async def resource():  # type: ignore[no-untyped-def]
        yield 1

    @app.get("/")
    async def handler(r: Annotated[int, Depends(resource, scope="function")]) -> dict[str, int]:
        return {"wrong": "shape"}  # type: ignore[dict-item]

    async def counting(scope: Any, receive: Any, send: Any) -> None:
        async def spy(message: Any) -> None:
            nonlocal starts
            if message["type"] == "http.response.start":
                starts += 1
            await send(message)

        await app(scope, receive, spy)

    with pytest.raises(Exception, match="declared schema"):
        TestClient(counting).get("/")
    assert starts == 1
    r = TestClient(counting, raise_server_exceptions=False).get("/")
    assert r.status_code == 500
    assert starts == 2


def test_depends_of_a_depends_marker_is_that_marker_s_dependency() -> None:
    async def dep() -> int:
        return 1

    assert Depends(Depends(dep)).dependency is dep


def test_add_route_dependency_runs_before_the_handler_on_either_side() -> None:
    from keel.di import add_route_dependency, route_dependencies

    calls: list[str] = []

    async def audit() -> None:
        calls.append("audit")

    app = App()

    @app.get("/")
    async def home() -> str:
        calls.append("home")
        return "ok"

    add_route_dependency(home, Depends(audit))  # after registration: still applied
    assert [d.dependency for d in route_dependencies(home)] == [audit]
    assert TestClient(app).get("/").status_code == 200
    assert calls == ["audit", "home"]
    with pytest.raises(TypeError, match="Depends"):
        add_route_dependency(home, audit)  # type: ignore[arg-type]
