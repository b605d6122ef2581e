"""Fixtures of the keel.admin suite: the blog app with its admin, on SQLite and PostgreSQL.

Each test runs in a transaction rolled back at its end (``keel.db.testing``), once per
backend; PostgreSQL tests create their own database and skip (or fail under
``KEEL_REQUIRE_SERVICES=1``) when the server is unreachable.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import event

from keel import App
from keel.auth import create_user, grant, sync_permissions
from keel.db.testing import (  # noqa: F401 - fixtures
    TestSession,
    _keel_db_shared,
    db_client,
    db_create_all,
    db_session,
    db_test_databases,
)
from keel.testing import TestClient
from tests.admin import blog
from tests.db.conftest import (  # noqa: F401 - fixtures
    _clean_database_env,
    backend,
    database_url,
    fresh_database_url,
    pg_session_database,
    postgres_available,
)

PASSWORD = "correct-horse-battery"


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The admin's tests log in a lot: cheap argon2 parameters (never in production)."""
    from argon2 import PasswordHasher

    from keel.auth import passwords

    monkeypatch.setattr(passwords, "hasher", PasswordHasher(time_cost=1, memory_cost=1024))


@pytest.fixture
def app(database_url: str) -> App:  # noqa: F811 - the fixture
    app, _ = blog.make_app(database_url)
    return app


@pytest.fixture
def make_user(db_session: TestSession) -> Callable[..., Any]:  # noqa: F811 - the fixture
    """``make_user("a@x.io", is_staff=True, perms=["blog.view_post"])``."""

    def make(email: str, *, perms: tuple[str, ...] = (), **fields: Any) -> Any:
        async def create() -> Any:
            session = db_session.session
            user = await create_user(session, email=email, password=PASSWORD, **fields)
            if perms:
                await sync_permissions(session, [blog.Blogger, blog.Post, blog.Reply])
                await grant(session, user, *perms)
            return user

        return db_session.run(create())

    return make


def token_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None, page[:2000]
    return found.group(1)


def log_in(client: TestClient, email: str) -> None:
    page = client.get("/admin/login").text
    answer = client.post(
        "/admin/login",
        data={"username": email, "password": PASSWORD, "csrf_token": token_of(page)},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text[:2000]


@pytest.fixture
def superuser(make_user: Callable[..., Any]) -> Any:
    return make_user("root@example.com", is_staff=True, is_superuser=True)


@pytest.fixture
def staff(db_client: TestClient, superuser: Any) -> TestClient:  # noqa: F811
    """A client logged in as a superuser."""
    log_in(db_client, "root@example.com")
    return db_client


class Queries:
    """Counts the statements the app's engine runs."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
            self.statements.append(statement)

    @property
    def count(self) -> int:
        return len(self.statements)


@pytest.fixture
def queries(db_session: TestSession) -> Iterator[Queries]:  # noqa: F811
    counter = Queries()
    engine = db_session.session.bind.engine.sync_engine  # type: ignore[union-attr]
    event.listen(engine, "before_cursor_execute", counter)
    yield counter
    event.remove(engine, "before_cursor_execute", counter)
