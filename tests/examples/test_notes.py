"""The notes example: tokens protect the API; user A can neither read nor change B's notes."""

from __future__ import annotations

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
