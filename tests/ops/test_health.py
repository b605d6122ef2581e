"""``/healthz`` and ``/readyz``: liveness, readiness checks, timeouts, draining, bypasses."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from keel import App
from keel.db import Database
from keel.health import begin_drain, end_drain
from keel.settings import Settings
from keel.testing import TestClient
from tests.services import REDIS_URL, redis_key_prefix


@pytest.fixture(autouse=True)
def _not_draining() -> Iterator[None]:
    end_drain()
    yield
    end_drain()


def _app(**settings: object) -> App:
    app = App(settings=Settings(**settings))  # type: ignore[arg-type]

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    return app


def test_liveness_and_readiness_without_checks() -> None:
    app = _app()
    app.health()
    with TestClient(app) as client:
        live = client.get("/healthz")
        assert live.status_code == 200
        assert live.json() == {"status": "ok"}
        assert live.headers["cache-control"] == "no-store"
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ok", "checks": {}}
        assert client.get("/hello").json() == {"hello": "world"}


def test_health_is_off_unless_asked() -> None:
    with TestClient(_app()) as client:
        assert client.get("/healthz").status_code == 404


def test_setting_turns_it_on() -> None:
    with TestClient(_app(health=True)) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200


def test_failing_check_is_a_problem_503() -> None:
    app = _app()
    health = app.health()

    @health.check()
    async def broken() -> None:
        raise ConnectionError("secret-host:5432 refused")

    @health.check("flag")
    def flag() -> bool:
        return False

    @health.check()
    async def fine() -> None:
        return None

    with TestClient(app) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "about:blank"
    assert body["status"] == 503
    assert body["detail"] == "2 readiness check(s) failed: broken, flag."
    assert body["checks"]["broken"]["error"] == "ConnectionError"
    assert body["checks"]["flag"]["error"] == "returned False"
    assert body["checks"]["fine"]["status"] == "ok"
    assert "secret-host" not in response.text  # the error's text stays in the log


def test_slow_check_times_out() -> None:
    app = _app(health_timeout=0.05)
    health = app.health()

    @health.check()
    async def slow() -> None:
        await asyncio.sleep(5)

    @health.check(timeout=1.0)
    async def patient() -> None:
        await asyncio.sleep(0.1)

    with TestClient(app) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["slow"]["error"] == "timed out after 0.05 s"
    assert checks["slow"]["duration_ms"] < 1000
    assert checks["patient"]["status"] == "ok"


def test_draining_turns_readiness_503_not_liveness() -> None:
    app = _app()
    app.health()
    with TestClient(app) as client:
        begin_drain()
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["detail"] == "The server is shutting down."
        assert client.get("/healthz").status_code == 200


def test_bad_method_and_head() -> None:
    app = _app()
    app.health()
    with TestClient(app) as client:
        response = client.post("/readyz")
        assert response.status_code == 405
        assert response.headers["allow"] == "GET, HEAD"
        assert response.json()["title"] == "Method Not Allowed"
        head = client.head("/healthz")
        assert head.status_code == 200
        assert head.content == b""


def test_bypasses_host_check_and_left_out_of_openapi() -> None:
    app = _app(allowed_hosts=["example.com"])
    app.health()
    with TestClient(app) as client:
        # a load balancer probes by IP: the host check refuses other paths, not the probes
        assert client.get("/hello", headers={"host": "10.0.0.7"}).status_code == 400
        assert client.get("/healthz", headers={"host": "10.0.0.7"}).status_code == 200
        assert client.get("/readyz", headers={"host": "10.0.0.7"}).status_code == 200
    paths = app.openapi()["paths"]
    assert "/healthz" not in paths and "/readyz" not in paths


def test_custom_paths_and_duplicate_name() -> None:
    app = _app()
    health = app.health(liveness_path="/live", readiness_path="/ready")
    assert app.health() is health
    health.add_check("one", lambda: True)
    with pytest.raises(ValueError, match="already registered"):
        health.add_check("one", lambda: True)
    with TestClient(app) as client:
        assert client.get("/live").status_code == 200
        assert client.get("/ready").json()["checks"]["one"]["status"] == "ok"


def test_database_check_registers_itself(tmp_path: Path) -> None:
    app = _app()
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'h.db'}")
    db.init_app(app)
    app.health()
    with TestClient(app) as client:
        response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["database"]["status"] == "ok"


def test_database_check_fails_when_unreachable() -> None:
    app = _app()
    db = Database("postgresql+asyncpg://nobody@127.0.0.1:1/none", check_migrations=False)
    db.init_app(app)
    app.health()
    with TestClient(app) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"]["status"] == "failed"


def test_redis_check_registers_itself() -> None:
    with redis_key_prefix():
        app = _app(redis_url=REDIS_URL)
        app.health()
        with TestClient(app) as client:
            response = client.get("/readyz")
        assert response.status_code == 200
        assert response.json()["checks"]["redis"]["status"] == "ok"


def test_redis_check_fails_when_unreachable() -> None:
    app = _app(redis_url="redis://127.0.0.1:1/0")
    app.health()
    with TestClient(app) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"]["error"] == "ConnectionError"


def test_outside_rate_limits_and_app_wide_auth() -> None:
    from keel import Depends, HTTPError
    from keel.middleware import Middleware
    from keel.middleware.ratelimit import RateLimitMiddleware

    def signed_in() -> None:
        raise HTTPError(401, "Sign in first.")

    app = App(
        middleware=[Middleware(RateLimitMiddleware, "2/minute")],
        dependencies=[Depends(signed_in)],
    )

    @app.get("/private")
    async def private() -> dict[str, bool]:
        return {"ok": True}

    app.health()
    with TestClient(app) as client:
        assert client.get("/private").status_code == 401
        statuses = {client.get("/readyz").status_code for _ in range(5)}
        statuses |= {client.get("/healthz").status_code for _ in range(5)}
        assert statuses == {200}
        assert client.get("/private").status_code == 401  # the second of two
        assert client.get("/private").status_code == 429  # the limit applies elsewhere
