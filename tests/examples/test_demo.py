from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from examples import demo
from keel.testing import TestClient
from tests.problems import problem


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    """The demo on a database of its own (not ./demo.db)."""
    demo.db.use_url(f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}")
    demo.store.log.clear()
    with TestClient(demo.app) as client:
        yield client


def test_demo_notes_api(client: TestClient) -> None:
    assert client.get("/").json() == {"docs": "/docs", "notes": "/notes"}
    problem(client.post("/notes", json={"title": "x"}), 401)
    r = client.post("/notes", json={"title": "Milk", "tags": ["shop"]}, headers={"x-token": "demo"})
    assert r.status_code == 201
    note_id = r.json()["id"]
    assert client.get(f"/notes/{note_id}").json()["title"] == "Milk"
    assert [n["id"] for n in client.get("/notes?tag=shop").json()] == [note_id]
    problem(client.get("/notes?limit=0"), 422)
    assert client.post("/notes", json={"title": ""}, headers={"x-token": "demo"}).status_code == 422
    assert client.delete(f"/notes/{note_id}", headers={"x-token": "demo"}).status_code == 204
    problem(client.get(f"/notes/{note_id}"), 404)
    assert demo.store.log == [f"created {note_id}"]


def test_the_admin_edits_what_the_api_serves(client: TestClient) -> None:
    from keel.auth import create_user

    async def superuser() -> None:
        async with demo.db.session() as session:
            await create_user(
                session,
                email="admin@example.com",
                password="a-long-passphrase",
                is_staff=True,
                is_superuser=True,
            )

    client.run(superuser())
    note_id = client.post(
        "/notes", json={"title": "Milk", "tags": ["shop"]}, headers={"x-token": "demo"}
    ).json()["id"]
    assert (
        client.get("/admin", headers={"Accept": "text/html"}, follow_redirects=False).status_code
        == 303
    )
    login = client.get("/admin/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', login).group(1)  # type: ignore[union-attr]
    client.post(
        "/admin/login",
        data={
            "username": "admin@example.com",
            "password": "a-long-passphrase",
            "csrf_token": token,
        },
    )
    listing = client.get("/admin/notes/note", headers={"Accept": "text/html"}).text
    assert ">Milk</a>" in listing
    form = client.get(f"/admin/notes/note/{note_id}/change").text
    original = re.search(r'name="_original" value="([^"]*)"', form).group(1)  # type: ignore[union-attr]
    import html

    saved = client.post(
        f"/admin/notes/note/{note_id}/change",
        data={
            "title": "Oat milk",
            "body": "",
            "_original": html.unescape(original),
            "label_set-TOTAL": "3",
            "label_set-0-id": re.search(r'name="label_set-0-id" value="(\d+)"', form).group(1),  # type: ignore[union-attr]
            "label_set-0-name": "shop",
            "label_set-1-name": "dairy",
            "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', form).group(1),  # type: ignore[union-attr]
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    assert client.get(f"/notes/{note_id}").json() == {
        "id": note_id,
        "title": "Oat milk",
        "body": "",
        "tags": ["shop", "dairy"],
    }
