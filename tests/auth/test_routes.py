"""The ready-made routes: registration, login, me, tokens, password change and reset."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from keel import App
from keel.auth import APIToken, MemoryMail, auth_of
from keel.db.testing import TestSession
from keel.testing import TestClient
from tests.problems import problem

from .conftest import PASSWORD, bearer, login


def test_register_login_me(db_client: TestClient) -> None:
    created = db_client.post(
        "/auth/register", json={"email": " Grace@Example.COM ", "password": PASSWORD}
    )
    assert created.status_code == 201, created.text
    assert created.json()["email"] == "Grace@example.com"
    assert "password" not in created.json()
    token = login(db_client, "Grace@EXAMPLE.com").json()
    assert token["token_type"] == "bearer"
    assert token["expires_in"] == 12 * 3600
    me = db_client.get("/auth/me", headers=bearer(token["access_token"]))
    assert me.status_code == 200
    assert me.json()["email"] == "Grace@example.com"
    assert me.json()["last_login"] is not None
    assert db_client.get("/private", headers=bearer(token["access_token"])).json() == {
        "email": "Grace@example.com"
    }


def test_registration_refuses_weak_passwords_and_duplicates(db_client: TestClient) -> None:
    for password, words in [
        ("short1", "too short"),
        ("1234567890123", "entirely numeric"),
        ("password123", "too common"),
        ("grace.hopper", "too similar"),
    ]:
        body = problem(
            db_client.post(
                "/auth/register", json={"email": "grace.hopper@example.com", "password": password}
            ),
            422,
        )
        assert words in body["detail"], body
        assert password not in str(body)  # the password is never echoed
    bad_email = db_client.post("/auth/register", json={"email": "nope", "password": PASSWORD})
    assert "not a valid email" in problem(bad_email, 422)["detail"]
    ok = db_client.post("/auth/register", json={"email": "g@example.com", "password": PASSWORD})
    assert ok.status_code == 201
    again = db_client.post("/auth/register", json={"email": "g@example.com", "password": PASSWORD})
    problem(again, 409)


def test_unknown_user_and_wrong_password_look_the_same(
    db_client: TestClient, make_user: Callable[..., Any]
) -> None:
    make_user("ada@example.com")
    wrong = login(db_client, "ada@example.com", "not-the-password")
    unknown = login(db_client, "nobody@example.com", "not-the-password")
    username = login(db_client, "nobody", "not-the-password")
    assert wrong.status_code == unknown.status_code == username.status_code == 400
    assert wrong.json() == unknown.json() == username.json()
    assert wrong.json()["error"] == "invalid_grant"
    assert dict(wrong.headers).keys() == dict(unknown.headers).keys()


def test_inactive_user_cannot_log_in(db_client: TestClient, make_user: Callable[..., Any]) -> None:
    make_user("off@example.com", is_active=False)
    problem(login(db_client, "off@example.com"), 400)


def test_missing_form_fields_are_422(db_client: TestClient) -> None:
    problem(db_client.post("/auth/token", data={"username": "x"}), 422)
    problem(
        db_client.post("/auth/token", data={"username": "x", "password": "y", "scope": "admin"}),
        400,
    )


def test_revoke_logs_the_token_out(db_client: TestClient, make_user: Callable[..., Any]) -> None:
    make_user()
    token = login(db_client, "ada@example.com").json()["access_token"]
    assert db_client.post("/auth/revoke", json={}, headers=bearer(token)).status_code == 204
    response = db_client.get("/auth/me", headers=bearer(token))
    problem(response, 401)
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def test_change_password_revokes_tokens(
    db_client: TestClient, db_session: TestSession, make_user: Callable[..., Any]
) -> None:
    make_user()
    first = login(db_client, "ada@example.com").json()["access_token"]
    second = login(db_client, "ada@example.com").json()["access_token"]
    wrong = db_client.post(
        "/auth/password",
        json={"current_password": "nope-nope-nope", "new_password": "another-fine-passphrase"},
        headers=bearer(first),
    )
    assert "current password" in problem(wrong, 400)["detail"]
    weak = db_client.post(
        "/auth/password",
        json={"current_password": PASSWORD, "new_password": "12345678"},
        headers=bearer(first),
    )
    problem(weak, 422)
    changed = db_client.post(
        "/auth/password",
        json={"current_password": PASSWORD, "new_password": "another-fine-passphrase"},
        headers=bearer(first),
    )
    assert changed.status_code == 204, changed.text
    for token in (first, second):
        problem(db_client.get("/auth/me", headers=bearer(token)), 401)
    problem(login(db_client, "ada@example.com"), 400)
    assert login(db_client, "ada@example.com", "another-fine-passphrase").status_code == 200
    revoked = db_session.scalars(select(APIToken).where(APIToken.revoked_at.is_not(None)))
    assert len(revoked) == 2


def test_password_reset_by_email(
    app: App, db_client: TestClient, make_user: Callable[..., Any]
) -> None:
    make_user()
    outbox = auth_of(app).mail
    assert isinstance(outbox, MemoryMail)
    unknown = db_client.post("/auth/password/reset", json={"email": "nobody@example.com"})
    known = db_client.post("/auth/password/reset", json={"email": "ada@example.com"})
    assert unknown.status_code == known.status_code == 202
    assert unknown.json() == known.json()
    assert len(outbox.outbox) == 1
    mail = outbox.outbox[0]
    assert mail.to == "ada@example.com"
    token = mail.body.split("token=")[1].split()[0]
    bad = db_client.post(
        "/auth/password/reset/confirm", json={"token": token + "x", "new_password": "x"}
    )
    problem(bad, 400)
    done = db_client.post(
        "/auth/password/reset/confirm",
        json={"token": token, "new_password": "a-brand-new-passphrase"},
    )
    assert done.status_code == 204, done.text
    again = db_client.post(
        "/auth/password/reset/confirm",
        json={"token": token, "new_password": "yet-another-passphrase"},
    )
    assert "invalid or has expired" in problem(again, 400)["detail"]  # one use only
    assert login(db_client, "ada@example.com", "a-brand-new-passphrase").status_code == 200


def test_garbage_reset_tokens_are_400(db_client: TestClient) -> None:
    for token in ("", "1-2", "a-b-c", "99-1-abc", "1-99999999999-abc", "x" * 150):
        response = db_client.post(
            "/auth/password/reset/confirm", json={"token": token, "new_password": PASSWORD}
        )
        assert response.status_code in (400, 422), token
        problem(response, response.status_code)
