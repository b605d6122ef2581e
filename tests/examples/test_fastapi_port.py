"""FastAPI examples run on keel with only their imports changed."""

from __future__ import annotations

from examples.fastapi_port import crud, deps, hello
from keel.testing import TestClient
from tests.problems import problem


def test_hello() -> None:
    client = TestClient(hello.app)
    assert client.get("/").json() == {"message": "Hello World"}
    assert client.get("/items/5?q=x").json() == {"item_id": 5, "q": "x"}
    problem(client.get("/items/five"), 422)


def test_crud() -> None:
    client = TestClient(crud.app)
    r = client.post("/items/", json={"name": "A", "price": 2.5, "tax": 0.1})
    assert r.status_code == 201
    assert r.json() == {"id": 1, "name": "A", "price": 2.5}
    assert client.get("/items/1").json()["name"] == "A"
    assert client.put("/items/1", json={"name": "B", "price": 3}).json()["name"] == "B"
    problem(client.get("/items/9"), 404)
    problem(client.post("/items/", json={"name": "x"}), 422)
    assert client.delete("/items/1").status_code == 204
    problem(client.delete("/items/1"), 404)


def test_dependencies() -> None:
    client = TestClient(deps.app)
    assert client.get("/items/?q=a&limit=5").json() == {"q": "a", "skip": 0, "limit": 5}
    assert client.get("/users/?skip=2").json() == {"q": None, "skip": 2, "limit": 100}
    ok = client.get("/secure/", headers={"x-token": "fake-super-secret-token"})
    assert ok.json() == {"db": True}
    problem(client.get("/secure/", headers={"x-token": "no"}), 400)
    assert problem(client.get("/secure/"), 422)["errors"][0]["loc"] == ["header", "x-token"]
