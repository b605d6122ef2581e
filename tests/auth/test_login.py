"""Browser sessions: login, logout, fixation, replay, password change, request.user."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from keel import App, Request
from keel.auth import CurrentUser
from keel.testing import TestClient
from tests.auth.conftest import PASSWORD
from tests.problems import problem

pytestmark = pytest.mark.usefixtures("db_create_all")


def session_login(client: TestClient, username: str, password: str = PASSWORD) -> Any:
    return client.post("/auth/login", json={"username": username, "password": password})


def csrf(client: TestClient) -> dict[str, str]:
    """The CSRF header for the client's session (a logged-in session's posts need it)."""
    return {"X-CSRF-Token": client.get("/csrf").json()["token"]}


@pytest.fixture
def app(app: App) -> App:
    from keel.csrf import csrf_token

    @app.get("/whoami")
    async def whoami(request: Request) -> dict[str, Any]:
        user = request.user
        return {"email": user.email, "authenticated": user.is_authenticated}

    @app.get("/csrf")
    async def token(request: Request) -> dict[str, str]:
        return {"token": csrf_token(request)}

    @app.post("/rename")
    async def rename(user: CurrentUser, name: dict[str, str]) -> dict[str, str | None]:
        user.username = name["username"]
        return {"username": user.username}

    return app


def test_login_opens_a_session_and_logout_ends_it(
    db_client: TestClient, make_user: Callable[..., Any]
) -> None:
    make_user("ada@example.com")
    client = db_client
    assert client.get("/whoami").json() == {"email": None, "authenticated": False}
    problem(client.get("/private"), 401)
    response = session_login(client, "ada@example.com")
    assert response.status_code == 200
    assert response.json()["email"] == "ada@example.com"
    assert "access_token" not in response.json()  # a cookie, not a token
    assert client.get("/whoami").json() == {"email": "ada@example.com", "authenticated": True}
    assert client.get("/private").json() == {"email": "ada@example.com"}
    assert client.post("/auth/logout", headers=csrf(client)).status_code == 204
    assert client.get("/whoami").json()["authenticated"] is False
    problem(client.get("/private"), 401)


def test_the_session_id_changes_at_login(
    db_client: TestClient, make_user: Callable[..., Any]
) -> None:
    """Session fixation: a cookie planted before the login is not the logged-in one."""
    make_user("ada@example.com")
    client = db_client
    client.get("/csrf")  # an anonymous session exists (it holds a CSRF secret)
    planted = client.cookies["session"]
    headers = csrf(client)
    assert client.post(
        "/auth/login", json={"username": "ada@example.com", "password": PASSWORD}, headers=headers
    ).is_success
    assert client.cookies["session"] != planted
    old_token = headers["X-CSRF-Token"]
    rejected = client.post("/auth/logout", headers={"X-CSRF-Token": old_token})
    problem(rejected, 403)  # tokens from before the login no longer work


def test_a_password_change_ends_the_other_sessions(
    db_client: TestClient, make_user: Callable[..., Any]
) -> None:
    make_user("ada@example.com")
    laptop = db_client
    session_login(laptop, "ada@example.com")
    phone_cookie = laptop.cookies["session"]  # the same login, kept elsewhere
    changed = laptop.post(
        "/auth/password",
        json={"current_password": PASSWORD, "new_password": "another-long-passphrase"},
        headers=csrf(laptop),
    )
    assert changed.status_code == 204
    laptop.cookies.clear()
    laptop.cookies.set("session", phone_cookie)
    assert laptop.get("/whoami").json()["authenticated"] is False
    problem(laptop.get("/private"), 401)


def test_unknown_user_and_wrong_password_look_the_same(
    db_client: TestClient, make_user: Callable[..., Any]
) -> None:
    make_user("ada@example.com")
    unknown = session_login(db_client, "nobody@example.com")
    wrong = session_login(db_client, "ada@example.com", "wrong-password")
    assert unknown.status_code == wrong.status_code == 400
    assert unknown.json() == wrong.json()
    assert "set-cookie" not in wrong.headers


def test_inactive_users_cannot_log_in(db_client: TestClient, make_user: Callable[..., Any]) -> None:
    make_user("ada@example.com", is_active=False)
    problem(session_login(db_client, "ada@example.com"), 400)


def test_bad_login_bodies_are_422(db_client: TestClient) -> None:
    problem(db_client.post("/auth/login", json={"username": "x"}), 422)
    problem(db_client.post("/auth/login", json={"username": "", "password": "x"}), 422)
    problem(
        db_client.post("/auth/login", content=b"{", headers={"content-type": "application/json"}),
        400,
    )


def test_the_handler_gets_the_session_user_to_change(
    db_client: TestClient, make_user: Callable[..., Any]
) -> None:
    make_user("ada@example.com")
    session_login(db_client, "ada@example.com")
    renamed = db_client.post("/rename", json={"username": "ada"}, headers=csrf(db_client))
    assert renamed.json() == {"username": "ada"}
    assert db_client.get("/auth/me").json()["username"] == "ada"


def test_twenty_bad_session_logins_are_429(
    db_client: TestClient, make_user: Callable[..., Any]
) -> None:
    make_user("ada@example.com")
    for _ in range(20):
        assert session_login(db_client, "ada@example.com", "nope").status_code == 400
    blocked = session_login(db_client, "ada@example.com")
    problem(blocked, 429)
    assert int(blocked.headers["retry-after"]) > 0


def test_a_bearer_token_still_wins_over_the_session(
    db_client: TestClient, make_user: Callable[..., Any]
) -> None:
    from tests.auth.conftest import bearer, login

    make_user("ada@example.com")
    make_user("bob@example.com")
    token = login(db_client, "bob@example.com").json()["access_token"]
    session_login(db_client, "ada@example.com")
    assert db_client.get("/private", headers=bearer(token)).json() == {"email": "bob@example.com"}
    problem(db_client.get("/private", headers=bearer("bad-token")), 401)
