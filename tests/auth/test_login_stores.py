"""A logged-out session cookie replayed, with a server-side store and with the cookie store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from keel import App, Request, Settings
from keel.testing import TestClient
from tests.auth.conftest import PASSWORD, make_app
from tests.problems import problem

pytestmark = pytest.mark.usefixtures("db_create_all")


@pytest.fixture(params=["memory", "cookie"])
def store(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def app(database_url: str, store: str) -> App:
    from keel.csrf import csrf_token

    app = make_app(database_url, settings=Settings(session_store=store))

    @app.get("/csrf")
    async def token(request: Request) -> dict[str, str]:
        return {"token": csrf_token(request)}

    return app


def test_a_logged_out_cookie_replayed(
    db_client: TestClient, make_user: Callable[..., Any], store: str
) -> None:
    """A server-side store forgets a logged-out session, so a copy of its cookie is
    anonymous. The cookie store keeps the data in the cookie itself: a copy made before
    the logout stays valid until it expires (documented: use a server-side store, or
    change the password, to end such copies)."""
    make_user("ada@example.com")
    client = db_client
    client.post("/auth/login", json={"username": "ada@example.com", "password": PASSWORD})
    stolen = client.cookies["session"]
    csrf = {"X-CSRF-Token": client.get("/csrf").json()["token"]}
    assert client.post("/auth/logout", headers=csrf).status_code == 204
    client.cookies.clear()
    client.cookies.set("session", stolen)
    replayed = client.get("/private")
    if store == "memory":
        problem(replayed, 401)
    else:
        assert replayed.status_code == 200
