"""The notes example: tokens protect the API; user A can neither read nor change B's notes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from examples.notes import app as notes
from keel.testing import TestClient
from tests.db.conftest import (  # noqa: F401 - fixtures
    _clean_database_env,
    backend,
    fresh_database_url,
    postgres_available,
)
from tests.problems import problem

PASSWORD = "a-long-notes-passphrase"


@pytest.fixture
def client(fresh_database_url: str) -> Iterator[TestClient]:  # noqa: F811 - the fixture
    original = notes.db.url
    notes.db.use_url(fresh_database_url)
    try:
        with TestClient(notes.app) as client:
            yield client
    finally:
        notes.db.use_url(original)


def sign_up(client: TestClient, email: str, scope: str = "") -> dict[str, str]:
    created = client.post("/auth/register", json={"email": email, "password": PASSWORD})
    assert created.status_code == 201, created.text
    data = {"username": email, "password": PASSWORD}
    if scope:
        data["scope"] = scope
    token = client.post("/auth/token", data=data).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def test_users_see_only_their_own_notes(client: TestClient) -> None:
    alice = sign_up(client, "alice@example.com")
    bob = sign_up(client, "bob@example.com")
    problem(client.get("/notes"), 401)
    made = client.post("/notes", json={"title": "Alice's secret"}, headers=alice)
    assert made.status_code == 201, made.text
    note_id: Any = made.json()["id"]
    assert "owner_id" not in made.json()
    assert [n["title"] for n in client.get("/notes", headers=alice).json()] == ["Alice's secret"]
    assert client.get("/notes", headers=bob).json() == []
    # Bob gets the same 404 as for a note that does not exist
    for method in ("get", "patch", "delete"):
        kwargs: dict[str, Any] = {"json": {"title": "mine now"}} if method == "patch" else {}
        theirs = client.request(method, f"/notes/{note_id}", headers=bob, **kwargs)
        missing = client.request(method, "/notes/999999", headers=bob, **kwargs)
        assert problem(theirs, 404)["detail"] == f"No note {note_id}."
        problem(missing, 404)
    assert client.get(f"/notes/{note_id}", headers=alice).json()["title"] == "Alice's secret"
    changed = client.patch(f"/notes/{note_id}", json={"body": "edited"}, headers=alice)
    assert changed.json()["body"] == "edited"
    problem(client.post("/notes", json={"title": " "}, headers=alice), 422)
    assert client.delete(f"/notes/{note_id}", headers=alice).status_code == 204
    problem(client.get(f"/notes/{note_id}", headers=alice), 404)


def token_in(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None, page
    return found.group(1)


def test_the_same_notes_as_pages_with_a_browser_session(client: TestClient) -> None:
    alice = sign_up(client, "alice@example.com")
    client.post("/notes", json={"title": "From the API <b>"}, headers=alice)
    home = client.get("/", follow_redirects=False)
    assert (home.status_code, home.headers["location"]) == (303, "/login?next=/")
    page = client.get("/login", params={"next": "//evil.example/steal"}).text
    wrong = client.post(
        "/login",
        data={"email": "alice@example.com", "password": "nope", "csrf_token": token_in(page)},
    )
    assert wrong.status_code == 400 and "Incorrect email or password." in wrong.text
    logged_in = client.post(
        "/login",
        data={
            "email": "alice@example.com",
            "password": PASSWORD,
            "next": "//evil.example/steal",
            "csrf_token": token_in(wrong.text),
        },
        follow_redirects=False,
    )
    assert logged_in.status_code == 303
    assert logged_in.headers["location"] == "/"  # never another site
    home_page = client.get("/").text
    assert "From the API &lt;b&gt;" in home_page and "Welcome back." in home_page
    assert '<span id="who">alice@example.com</span>' in home_page
    # the session works for the API too, without a token (and without a cookie-less CSRF gap)
    assert [n["title"] for n in client.get("/notes").json()] == ["From the API <b>"]
    problem(client.post("/notes", json={"title": "forged"}), 403)  # no CSRF token
    out = client.post("/logout", data={"csrf_token": token_in(home_page)})
    assert "You are logged out." in out.text
    problem(client.get("/notes"), 401)


def test_the_login_page_refuses_without_its_token(client: TestClient) -> None:
    sign_up(client, "alice@example.com")
    client.get("/login")  # the session cookie (holding the CSRF secret) is set
    forged = client.post("/login", data={"email": "alice@example.com", "password": PASSWORD})
    problem(forged, 403)
