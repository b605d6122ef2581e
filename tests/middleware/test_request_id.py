"""Request IDs: sane incoming IDs reused, others replaced, echoed, and on log records."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest

from keel import App, HTTPError, Request
from keel.middleware import Middleware, RequestIDLogFilter, RequestIDMiddleware
from keel.middleware.request_id import current_request_id
from keel.responses import PlainTextResponse
from keel.testing import TestClient
from tests.problems import problem

HEX32 = re.compile(r"[0-9a-f]{32}")
log = logging.getLogger("tests.request_id")


def make_app(**options: Any) -> App:
    app = App(middleware=[Middleware(RequestIDMiddleware, **options)])

    @app.get("/")
    async def index(request: Request) -> dict[str, Any]:
        log.warning("handling")
        return {
            "state": request.state.request_id,
            "scope": request.scope["request_id"],
            "context": current_request_id(),
        }

    @app.get("/fail")
    async def fail() -> None:
        raise HTTPError(409, "conflict")

    @app.get("/own")
    async def own() -> PlainTextResponse:
        return PlainTextResponse("x", headers={"x-request-id": "chosen-by-route"})

    return app


@pytest.fixture(scope="module")
def client() -> Any:
    with TestClient(make_app()) as c:
        yield c


def test_generated_when_absent(client: TestClient) -> None:
    r = client.get("/")
    rid = r.headers["x-request-id"]
    assert HEX32.fullmatch(rid)
    assert r.json() == {"state": rid, "scope": rid, "context": rid}
    assert client.get("/").headers["x-request-id"] != rid


@pytest.mark.parametrize("incoming", ["abc-123", "A.b_C-9", "x" * 200, "0f" * 16])
def test_sane_incoming_id_is_reused(client: TestClient, incoming: str) -> None:
    r = client.get("/", headers={"x-request-id": incoming})
    assert r.headers["x-request-id"] == incoming
    assert r.json()["state"] == incoming


@pytest.mark.parametrize(
    "incoming",
    ["", "x" * 201, "has space", "new\\nline", "semi;colon", "<script>", "ünïcode", "a,b", "../x"],
)
def test_insane_incoming_id_is_replaced(client: TestClient, incoming: str) -> None:
    r = client.get("/", headers=[(b"x-request-id", incoming.encode("utf-8"))])
    assert HEX32.fullmatch(r.headers["x-request-id"])


def test_untrusted_incoming_is_ignored() -> None:
    with TestClient(make_app(trust_incoming=False)) as c:
        r = c.get("/", headers={"x-request-id": "abc"})
        assert HEX32.fullmatch(r.headers["x-request-id"])


def test_echoed_on_errors_and_route_value_wins(client: TestClient) -> None:
    r = client.get("/fail", headers={"x-request-id": "err-1"})
    problem(r, 409)
    assert r.headers["x-request-id"] == "err-1"
    missing = client.get("/nowhere")
    problem(missing, 404)
    assert HEX32.fullmatch(missing.headers["x-request-id"])
    assert client.get("/own").headers.get_list("x-request-id") == ["chosen-by-route"]


def test_custom_header_name() -> None:
    with TestClient(make_app(header_name="X-Correlation-ID")) as c:
        r = c.get("/", headers={"x-correlation-id": "corr-7"})
        assert r.headers["x-correlation-id"] == "corr-7"
        assert "x-request-id" not in r.headers
    with pytest.raises(ValueError):
        RequestIDMiddleware(make_app(), header_name="X Bad")


def test_log_records_carry_the_request_id(client: TestClient) -> None:
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collect()
    handler.addFilter(RequestIDLogFilter())
    handler.setFormatter(logging.Formatter("%(request_id)s %(message)s"))
    log.addHandler(handler)
    try:
        client.get("/", headers={"x-request-id": "log-42"})
        log.warning("outside")
    finally:
        log.removeHandler(handler)
    assert [handler.format(r) for r in records] == ["log-42 handling", "- outside"]
    assert current_request_id() is None
