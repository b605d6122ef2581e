"""Page[T] with limit/offset, CursorPage[T] with keyset cursors."""

from __future__ import annotations

import pytest

from keel import App
from keel.db.testing import TestSession
from keel.testing import TestClient

from .db_test_models import Author, make_app


@pytest.fixture
def app(database_url: str) -> App:
    return make_app(database_url)


@pytest.fixture
def authors(db_session: TestSession) -> list[str]:
    names = [f"author-{i:02d}" for i in range(25)]
    db_session.add_all([Author(name=n) for n in reversed(names)])
    db_session.flush()
    return names


def test_first_page_and_total(db_client: TestClient, authors: list[str]) -> None:
    body = db_client.get("/authors").json()
    assert (body["total"], body["limit"], body["offset"]) == (25, 20, 0)
    assert len(body["items"]) == 20


def test_limit_and_offset(db_client: TestClient, authors: list[str]) -> None:
    body = db_client.get("/authors", params={"limit": 10, "offset": 20}).json()
    assert len(body["items"]) == 5
    assert body["total"] == 25


def test_filtering_is_counted(db_client: TestClient, authors: list[str]) -> None:
    body = db_client.get("/authors", params={"q": "author-1"}).json()
    assert body["total"] == 10
    assert all("author-1" in a["name"] for a in body["items"])


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 101}, {"offset": -1}, {"limit": "many"}]
)
def test_bounds(db_client: TestClient, params: dict[str, int | str]) -> None:
    response = db_client.get("/authors", params=params)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


def test_keyset_walks_every_row_once(db_client: TestClient, authors: list[str]) -> None:
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params: dict[str, int | str] = {"limit": 7}
        if cursor:
            params["cursor"] = cursor
        body = db_client.get("/authors-by-cursor", params=params).json()
        seen += [a["name"] for a in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(authors)


def test_keyset_descending(db_client: TestClient, authors: list[str]) -> None:
    first = db_client.get("/authors-by-cursor", params={"limit": 3, "desc": True}).json()
    assert [a["name"] for a in first["items"]] == sorted(authors, reverse=True)[:3]
    second = db_client.get(
        "/authors-by-cursor", params={"limit": 3, "desc": True, "cursor": first["next_cursor"]}
    ).json()
    assert [a["name"] for a in second["items"]] == sorted(authors, reverse=True)[3:6]


def test_keyset_rows_inserted_meanwhile_do_not_shift_pages(
    db_client: TestClient, db_session: TestSession, authors: list[str]
) -> None:
    first = db_client.get("/authors-by-cursor", params={"limit": 5}).json()
    db_session.add(Author(name="aaa-new"))  # sorts before every existing row
    db_session.flush()
    second = db_client.get(
        "/authors-by-cursor", params={"limit": 5, "cursor": first["next_cursor"]}
    ).json()
    assert [a["name"] for a in second["items"]] == sorted(authors)[5:10]


@pytest.mark.parametrize("cursor", ["garbage", "!!!", "eyJ4IjoxfQ", "WzEsMiwzXQ"])
def test_bad_cursor_is_422(db_client: TestClient, cursor: str) -> None:
    response = db_client.get("/authors-by-cursor", params={"cursor": cursor})
    assert response.status_code == 422
    assert response.json()["field"] == "cursor"


def test_empty_listing(db_client: TestClient) -> None:
    assert db_client.get("/authors").json() == {"items": [], "total": 0, "limit": 20, "offset": 0}
    body = db_client.get("/authors-by-cursor").json()
    assert body == {"items": [], "next_cursor": None, "limit": 20}
