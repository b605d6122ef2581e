"""Guards: 401 without a user, 403 for a user without the right; scopes; permissions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any

import pytest

from keel import App, Depends
from keel.auth import (
    AbstractUser,
    Group,
    OptionalUser,
    add_to_group,
    create_token,
    get_permissions,
    grant,
    require_permission,
    require_superuser,
    sync_permissions,
)
from keel.db import IntPK, Model
from keel.db.testing import TestSession
from keel.testing import TestClient
from tests.problems import problem

from .conftest import bearer, login, make_app


class Gadget(IntPK, Model):
    """A model of this test module (its permissions are generated)."""

    __tablename__ = "auth_test_gadgets"
    __app_label__ = "shop"
    __permissions__ = [("publish_gadget", "Can publish gadgets")]


@pytest.fixture
def app(database_url: str) -> App:
    app = make_app(database_url)

    @app.get("/gadgets/edit", dependencies=[require_permission("shop.change_gadget")])
    async def edit() -> str:
        return "edited"

    @app.get("/root")
    async def root(user: Annotated[AbstractUser, require_superuser]) -> str:
        return user.identifier

    @app.get("/maybe")
    async def maybe(user: OptionalUser) -> str | None:
        return user.email if user else None

    return app


def token_for(db_session: TestSession, user: Any, **options: Any) -> str:
    db_session.refresh(user)  # a request may have changed it (last_login)
    issued = db_session.run(create_token(db_session.session, user, **options))
    db_session.commit()
    return issued.token


def test_anonymous_gets_401_with_a_challenge(db_client: TestClient) -> None:
    for path in ("/private", "/staff", "/read", "/gadgets/edit", "/root", "/auth/me"):
        response = db_client.get(path)
        body = problem(response, 401)
        assert response.headers["www-authenticate"] == "Bearer", path
        assert "Not authenticated" in body["detail"]
    assert db_client.get("/maybe").json() is None


def test_bad_tokens_get_401(
    db_client: TestClient, db_session: TestSession, make_user: Callable[..., Any]
) -> None:
    user = make_user()
    expired = token_for(db_session, user, expires_in=dt.timedelta(seconds=-1))
    good = token_for(db_session, user)
    tampered = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    latin = db_client.get(
        "/private", headers={b"Authorization": "Bearer \u00e9t\u00e9".encode("latin-1")}
    )
    problem(latin, 401)
    for token in (expired, tampered, "x" * 500, "a.b.c", "x\x00y"):
        response = db_client.get("/private", headers=bearer(token))
        problem(response, 401)
        assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
        problem(db_client.get("/maybe", headers=bearer(token)), 401)
    assert db_client.get("/private", headers=bearer(good)).status_code == 200
    assert db_client.get("/maybe", headers=bearer(good)).json() == "ada@example.com"
    # another scheme word is not ours: treated as no credentials
    problem(db_client.get("/private", headers={"Authorization": f"Token {good}"}), 401)


def test_inactive_users_tokens_stop_working(
    db_client: TestClient, db_session: TestSession, make_user: Callable[..., Any]
) -> None:
    user = make_user()
    token = token_for(db_session, user)
    user.is_active = False
    db_session.commit()
    problem(db_client.get("/private", headers=bearer(token)), 401)


def test_staff_and_superuser_guards(
    db_client: TestClient, db_session: TestSession, make_user: Callable[..., Any]
) -> None:
    plain = token_for(db_session, make_user("plain@example.com"))
    staff = token_for(db_session, make_user("staff@example.com", is_staff=True))
    root = token_for(db_session, make_user("root@example.com", is_superuser=True))
    assert "Staff only" in problem(db_client.get("/staff", headers=bearer(plain)), 403)["detail"]
    assert db_client.get("/staff", headers=bearer(staff)).json() == "staff"
    assert db_client.get("/staff", headers=bearer(root)).json() == "staff"
    problem(db_client.get("/root", headers=bearer(staff)), 403)
    assert db_client.get("/root", headers=bearer(root)).json() == "root@example.com"


def test_scopes_are_enforced(
    db_client: TestClient, db_session: TestSession, make_user: Callable[..., Any]
) -> None:
    user = make_user()
    reader = login(db_client, "ada@example.com", scope="read").json()["access_token"]
    assert db_client.get("/read", headers=bearer(reader)).json() == "read"
    refused = db_client.get("/write", headers=bearer(reader))
    problem(refused, 403)
    assert refused.headers["www-authenticate"] == (
        'Bearer error="insufficient_scope", scope="write"'
    )
    everything = token_for(db_session, user)  # no scopes: unrestricted
    assert db_client.get("/write", headers=bearer(everything)).json() == "write"


def test_permissions_direct_and_through_groups(
    db_client: TestClient, db_session: TestSession, make_user: Callable[..., Any]
) -> None:
    created = db_session.run(sync_permissions(db_session.session, [Gadget]))
    assert created == [
        "shop.add_gadget",
        "shop.change_gadget",
        "shop.delete_gadget",
        "shop.publish_gadget",
        "shop.view_gadget",
    ]
    assert db_session.run(sync_permissions(db_session.session, [Gadget])) == []
    alice = make_user("alice@example.com")
    bob = make_user("bob@example.com")
    carol = make_user("carol@example.com")
    db_session.run(grant(db_session.session, alice, "shop.change_gadget"))
    editors = Group(name="editors")
    db_session.add(editors)
    db_session.flush()
    db_session.run(grant(db_session.session, editors, "shop.change_gadget", "shop.view_gadget"))
    db_session.run(add_to_group(db_session.session, bob, editors))
    db_session.commit()
    assert db_session.run(get_permissions(db_session.session, bob)) == {
        "shop.change_gadget",
        "shop.view_gadget",
    }
    for user, status in ((alice, 200), (bob, 200), (carol, 403)):
        response = db_client.get("/gadgets/edit", headers=bearer(token_for(db_session, user)))
        assert response.status_code == status, response.text
    with pytest.raises(LookupError, match="no permission"):
        db_session.run(grant(db_session.session, carol, "shop.fly_gadget"))
    with pytest.raises(ValueError, match="shop.change_item"):
        require_permission("change_item")


def test_guards_on_a_router(db_session: TestSession, make_user: Callable[..., Any]) -> None:
    from keel import Router
    from keel.auth import require_staff

    router = Router("/admin", dependencies=[require_staff])

    @router.get("/stats")
    async def stats() -> int:
        return 1

    assert router.dependencies == [require_staff]
    assert isinstance(require_staff, Depends)
