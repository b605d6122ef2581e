"""The example CRUD API, tested the way a keel project would test it."""

from __future__ import annotations

from typing import Any

from examples.crud.models import Author, Book, Genre
from keel.db.testing import TestSession
from keel.testing import TestClient


def add_author(client: TestClient, name: str = "Ursula K. Le Guin") -> dict[str, Any]:
    response = client.post("/authors", json={"name": name})
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_create_read_update_delete_author(db_client: TestClient) -> None:
    author = add_author(db_client)
    assert author["bio"] is None
    assert author["created_at"]
    got = db_client.get(f"/authors/{author['id']}").json()
    assert got["books"] == []
    patched = db_client.patch(f"/authors/{author['id']}", json={"bio": "Earthsea"}).json()
    assert (patched["name"], patched["bio"]) == (author["name"], "Earthsea")
    assert db_client.delete(f"/authors/{author['id']}").status_code == 204
    assert db_client.get(f"/authors/{author['id']}").status_code == 404


def test_duplicate_name_is_409(db_client: TestClient) -> None:
    add_author(db_client)
    response = db_client.post("/authors", json={"name": "Ursula K. Le Guin"})
    assert response.status_code == 409
    assert response.json()["field"] == "name"


def test_books_belong_to_an_author(db_client: TestClient) -> None:
    author = add_author(db_client)
    book = db_client.post(
        "/books", json={"title": "A Wizard of Earthsea", "year": 1968, "author_id": author["id"]}
    )
    assert book.status_code == 201, book.text
    assert book.json()["genre"] == "novel"
    detail = db_client.get(f"/authors/{author['id']}").json()
    assert [b["title"] for b in detail["books"]] == ["A Wizard of Earthsea"]
    missing = db_client.post("/books", json={"title": "Orphan", "author_id": 987654})
    assert missing.status_code == 422
    assert missing.json()["field"] == "author_id"
    referenced = db_client.delete(f"/authors/{author['id']}")
    assert referenced.status_code == 409


def test_filters_and_pages(db_client: TestClient, db_session: TestSession) -> None:
    author = Author(name="Tove Jansson")
    db_session.add(author)
    db_session.flush()
    db_session.add_all(
        [
            Book(title=f"Moomin {i}", year=1945 + i, genre=Genre.novel, author_id=author.id)
            for i in range(9)
        ]
        + [Book(title="Poems", year=1990, genre=Genre.poetry, author_id=author.id)]
    )
    db_session.flush()
    page = db_client.get("/books", params={"genre": "novel", "limit": 4}).json()
    assert (page["total"], len(page["items"])) == (9, 4)
    after = db_client.get("/books", params={"published_after": 1950}).json()
    assert after["total"] == 4
    titled = db_client.get("/books", params={"title": "Poem"}).json()
    assert [b["title"] for b in titled["items"]] == ["Poems"]
    assert db_client.get("/books", params={"limit": 1000}).status_code == 422
    names = db_client.get("/authors", params={"name": "Tove"}).json()
    assert names["total"] == 1

    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        body = db_client.get(f"/authors/{author.id}/books", params=params).json()
        seen += [b["id"] for b in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(seen, reverse=True)
    assert len(seen) == 10


def test_optimistic_locking_on_books(db_client: TestClient) -> None:
    author = add_author(db_client)
    book = db_client.post("/books", json={"title": "Draft", "author_id": author["id"]}).json()
    assert book["version"] == 1
    url = f"/books/{book['id']}"
    first = db_client.patch(url, json={"title": "Final"}, headers={"If-Match": "1"})
    assert first.json()["version"] == 2
    stale = db_client.patch(url, json={"title": "Overwrite"}, headers={"If-Match": "1"})
    assert stale.status_code == 409
    assert db_client.get(url).json()["title"] == "Final"


def test_invalid_input_is_a_4xx_problem(db_client: TestClient) -> None:
    for response in (
        db_client.post("/authors", json={"name": "x" * 101}),
        db_client.post("/authors", json={}),
        db_client.get("/authors/99999999999999999999"),
        db_client.get("/authors/1/books", params={"cursor": "nonsense"}),
        db_client.post("/books", json={"title": "T", "author_id": 1, "year": 5000}),
    ):
        assert 400 <= response.status_code < 500, response.text
        assert response.headers["content-type"] == "application/problem+json"
