"""The pytest plugin: each test in a transaction rolled back at its end, shared with the app."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from keel import App
from keel.db.testing import TestSession
from keel.testing import TestClient

from .db_test_models import Author, make_app


@pytest.fixture
def app(database_url: str) -> App:
    return make_app(database_url)


def test_a_writes_rows(db_client: TestClient, db_session: TestSession) -> None:
    db_session.add(Author(name="Leaky?"))
    db_session.commit()  # commits to a savepoint only
    assert db_client.post("/authors", json={"name": "Via API"}).status_code == 201
    assert db_session.scalar(select(func.count()).select_from(Author)) == 2


def test_b_sees_none_of_them(db_client: TestClient, db_session: TestSession) -> None:
    assert db_session.scalar(select(func.count()).select_from(Author)) == 0
    assert db_client.get("/authors").json()["total"] == 0


def test_the_app_sees_the_tests_rows_and_back(
    db_client: TestClient, db_session: TestSession
) -> None:
    author = Author(name="Shared")
    db_session.add(author)
    db_session.flush()
    assert db_client.get(f"/authors/{author.id}").json()["name"] == "Shared"
    db_client.patch(f"/authors/{author.id}", json={"bio": "from the API"})
    db_session.refresh(author)
    assert author.bio == "from the API"
    assert [a.name for a in db_session.scalars(select(Author))] == ["Shared"]
    assert db_session.get(Author, author.id) is author


def test_a_failed_request_rolls_back_only_its_own_work(
    db_client: TestClient, db_session: TestSession
) -> None:
    db_session.add(Author(name="Kept"))
    db_session.flush()
    assert db_client.post("/authors-then-fail", json={"name": "Dropped"}).status_code == 400
    assert db_client.post("/authors", json={"name": "Kept"}).status_code == 409
    names = db_session.scalars(select(Author.name))
    assert names == ["Kept"]


def test_run_and_delete(db_client: TestClient, db_session: TestSession) -> None:
    author = Author(name="Gone")
    db_session.add(author)
    db_session.flush()
    db_session.delete(author)
    db_session.flush()
    assert db_session.run(db_session.session.scalar(select(func.count(Author.id)))) == 0
    assert db_session.execute(select(Author)).all() == []


def test_a_request_failing_at_commit_leaves_the_session_usable(
    db_client: TestClient, db_session: TestSession
) -> None:
    author = Author(name="Kept")
    db_session.add(author)
    db_session.flush()
    # The handler only adds the row: the foreign key fails at the commit after the handler.
    failed = db_client.post("/books/deferred", json={"title": "Orphan", "author_id": 987654})
    assert failed.status_code == 422
    assert db_client.get("/authors").json()["total"] == 1
    assert db_client.post("/authors", json={"name": "Next"}).status_code == 201
    assert sorted(db_session.scalars(select(Author.name))) == ["Kept", "Next"]
