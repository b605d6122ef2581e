from __future__ import annotations

from examples import demo
from keel.testing import TestClient
from tests.problems import problem


def test_demo_notes_api() -> None:
    with TestClient(demo.app) as client:
        assert client.get("/").json() == {"docs": "/docs", "notes": "/notes"}
        problem(client.post("/notes", json={"title": "x"}), 401)
        r = client.post(
            "/notes", json={"title": "Milk", "tags": ["shop"]}, headers={"x-token": "demo"}
        )
        assert r.status_code == 201
        note_id = r.json()["id"]
        assert client.get(f"/notes/{note_id}").json()["title"] == "Milk"
        assert [n["id"] for n in client.get("/notes?tag=shop").json()] == [note_id]
        problem(client.get("/notes?limit=0"), 422)
        assert (
            client.post("/notes", json={"title": ""}, headers={"x-token": "demo"}).status_code
            == 422
        )
        assert client.delete(f"/notes/{note_id}", headers={"x-token": "demo"}).status_code == 204
        problem(client.get(f"/notes/{note_id}"), 404)
        assert demo.store.log == [f"created {note_id}"]
