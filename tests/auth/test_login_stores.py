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


def test_a_logged_out_cookie_replayed_is_anonymous(
    db_client: TestClient, make_user: Callable[..., Any]
) -> None:
    """A server-side store forgets the session; the cookie store cannot recall the cookie,
    so logging out raises the user's session version instead. Either way a copy of the
    cookie taken before the logout is anonymous afterwards."""
    make_user("ada@example.com")
    client = db_client
    client.post("/auth/login", json={"username": "ada@example.com", "password": PASSWORD})
    stolen = client.cookies["session"]
    assert client.get("/private").status_code == 200
    csrf = {"X-CSRF-Token": client.get("/csrf").json()["token"]}
    assert client.post("/auth/logout", headers=csrf).status_code == 204
    client.cookies.clear()
    client.cookies.set("session", stolen)
    problem(client.get("/private"), 401)


def test_with_the_cookie_store_a_logout_ends_every_session(
    db_client: TestClient, make_user: Callable[..., Any], store: str
) -> None:
    make_user("ada@example.com")
    client = db_client
    login = {"username": "ada@example.com", "password": PASSWORD}
    client.post("/auth/login", json=login)
    laptop = client.cookies["session"]
    client.cookies.clear()
    client.post("/auth/login", json=login)  # the same user on a phone
    csrf = {"X-CSRF-Token": client.get("/csrf").json()["token"]}
    client.post("/auth/logout", headers=csrf)
    client.cookies.clear()
    client.cookies.set("session", laptop)
    laptop_after = client.get("/private")
    if store == "cookie":
        problem(laptop_after, 401)  # documented: the cookie store logs out everywhere
    else:
        assert laptop_after.status_code == 200  # server-side: only that session ends
