"""Database errors become problem details, never raw database text."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from keel import App
from keel.db.errors import Violation, classify_integrity_error, http_error_for
from keel.db.testing import TestSession
from keel.testing import TestClient

from .db_test_models import Author, Book, make_app

LEAKS = ("constraint", "sqlite", "psycopg", "asyncpg", "SELECT", "INSERT", "DETAIL", "t_authors")


@pytest.fixture
def app(database_url: str) -> App:
    return make_app(database_url)


def assert_problem(response: object, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    body: dict[str, object] = response.json()  # type: ignore[attr-defined]
    assert body["status"] == status
    for word in LEAKS:
        assert word not in str(body.get("detail")), body
    return body


def test_unique_violation_is_409_naming_the_field(db_client: TestClient) -> None:
    assert db_client.post("/authors", json={"name": "Le Guin"}).status_code == 201
    body = assert_problem(db_client.post("/authors", json={"name": "Le Guin"}), 409)
    assert body["field"] == "name"
    assert "name" in str(body["detail"])


def test_unique_violation_on_a_nullable_column(db_client: TestClient) -> None:
    db_client.post("/authors", json={"name": "A", "email": "a@example.com"})
    body = assert_problem(
        db_client.post("/authors", json={"name": "B", "email": "a@example.com"}), 409
    )
    assert body["field"] == "email"


def test_update_into_a_duplicate_is_409(db_client: TestClient) -> None:
    db_client.post("/authors", json={"name": "A"})
    second = db_client.post("/authors", json={"name": "B"}).json()
    body = assert_problem(db_client.patch(f"/authors/{second['id']}", json={"name": "A"}), 409)
    assert body["field"] == "name"


def test_missing_parent_is_422(db_client: TestClient) -> None:
    body = assert_problem(db_client.post("/books", json={"title": "X", "author_id": 12345}), 422)
    assert body["field"] == "author_id"


def test_deleting_a_referenced_parent_is_409(
    db_client: TestClient, db_session: TestSession
) -> None:
    author = Author(name="Parent")
    db_session.add(author)
    db_session.flush()
    db_session.add(Book(title="Child", author_id=author.id))
    db_session.commit()
    body = assert_problem(db_client.delete(f"/authors/{author.id}"), 409)
    assert "referenced" in str(body["detail"])


def test_check_constraint_is_422(db_client: TestClient, db_session: TestSession) -> None:
    author = Author(name="Counted")
    db_session.add(author)
    db_session.flush()
    response = db_client.post("/books", json={"title": "X", "author_id": author.id, "pages": -1})
    assert assert_problem(response, 422)["rule"] == "pages_positive"


def test_no_result_found_is_404(db_client: TestClient) -> None:
    assert_problem(db_client.get("/authors-one/nobody"), 404)


@pytest.mark.parametrize("ident", ["99", "2147483648", "99999999999999999999999999"])
def test_get_or_404(db_client: TestClient, ident: str) -> None:
    body = assert_problem(db_client.get(f"/authors/{ident}"), 404)
    assert "Author" in str(body["detail"])


def test_huge_key_without_get_or_404_is_422(db_client: TestClient, backend: str) -> None:
    assert_problem(db_client.get(f"/authors-unchecked/{2**70}"), 422)  # beyond 64 bits
    beyond_int32 = db_client.get(f"/authors-unchecked/{2**40}")
    if backend == "postgresql":
        assert_problem(beyond_int32, 422)
    else:  # SQLite integers are 64-bit: no such row
        assert beyond_int32.json() is None


def test_classify_without_metadata() -> None:
    exc = IntegrityError("INSERT INTO x", {}, Exception("UNIQUE constraint failed: x.a, x.b"))
    assert classify_integrity_error(exc) == Violation("unique", ("a", "b"))
    exc = IntegrityError("DELETE FROM x", {}, Exception("FOREIGN KEY constraint failed"))
    assert classify_integrity_error(exc).referenced
    exc = IntegrityError("INSERT INTO x", {}, Exception("something else"))
    assert classify_integrity_error(exc).kind == "other"
    error = http_error_for(exc)
    assert error is not None
    assert error.status == 409
    assert http_error_for(ValueError()) is None


def test_value_the_database_rejects_is_422_not_500(db_client: TestClient, backend: str) -> None:
    response = db_client.post("/authors", json={"name": "nul\u0000byte"})
    if backend == "postgresql":  # PostgreSQL text cannot hold NUL
        assert_problem(response, 422)
    else:
        assert response.status_code == 201


def test_an_app_wide_http_error_handler_formats_database_errors(
    app: App, db_client: TestClient
) -> None:
    from keel import HTTPError, Request
    from keel.responses import JSONResponse

    @app.exception_handler(HTTPError)
    async def own_format(request: Request, exc: HTTPError) -> JSONResponse:
        return JSONResponse({"errors": {"body": [exc.detail]}}, status=exc.status)

    assert db_client.post("/authors", json={"name": "Twice"}).status_code == 201
    response = db_client.post("/authors", json={"name": "Twice"})
    assert response.status_code == 409
    assert response.json() == {"errors": {"body": ["An item with this name already exists."]}}


def test_the_apps_error_format_applies_to_database_errors(app: App, db_client: TestClient) -> None:
    from keel.error_formats import FastAPIErrors

    app.error_format = FastAPIErrors()
    db_client.post("/authors", json={"name": "Once"})
    response = db_client.post("/authors", json={"name": "Once"})
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"detail": "An item with this name already exists."}
    missing = db_client.get("/authors/987654")
    assert (missing.status_code, set(missing.json())) == (404, {"detail"})
