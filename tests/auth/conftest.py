"""Fixtures of the keel.auth suite: an app with keel.auth on SQLite and on PostgreSQL.

Each test runs in a transaction rolled back at its end (``keel.db.testing``), once per
backend; PostgreSQL tests create their own database and skip (or fail under
``KEEL_REQUIRE_SERVICES=1``) when the server is unreachable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from keel import App, Settings
from keel.auth import Auth, CurrentUser, MemoryMail, create_user
from keel.db import Database
from keel.db.testing import (  # noqa: F401 - fixtures
    TestSession,
    _keel_db_shared,
    db_client,
    db_create_all,
    db_session,
    db_test_databases,
)
from keel.testing import TestClient
from tests.db.conftest import (  # noqa: F401 - fixtures
    _clean_database_env,
    backend,
    database_url,
    fresh_database_url,
    pg_session_database,
    postgres_available,
)

PASSWORD = "correct-horse-battery"


def make_app(url: str, settings: Settings | None = None, **options: Any) -> App:
    """An app with a database, keel.auth (its routes at /auth) and a few guarded routes."""
    from keel.auth import require_scopes, require_staff

    app = App(settings=settings)
    database = Database(url)
    database.init_app(app)
    options.setdefault("mail", MemoryMail())
    options.setdefault("scopes", {"read": "Read things", "write": "Write things"})
    auth = Auth(secret_key="test-secret-" + "x" * 40, **options)
    auth.init_app(app)
    app.include_router(auth.router(registration=True))

    @app.get("/private")
    async def private(user: CurrentUser) -> dict[str, Any]:
        return {"email": user.email}

    @app.get("/staff", dependencies=[require_staff])
    async def staff_only() -> str:
        return "staff"

    @app.get("/read", dependencies=[require_scopes("read")])
    async def read() -> str:
        return "read"

    @app.get("/write", dependencies=[require_scopes("write")])
    async def write() -> str:
        return "write"

    return app


@pytest.fixture
def app(database_url: str) -> App:  # noqa: F811 - the fixture
    return make_app(database_url)


@pytest.fixture
def make_user(db_session: TestSession) -> Callable[..., Any]:  # noqa: F811 - the fixture
    """Create a user in the test's transaction: ``make_user("a@x.io", is_staff=True)``."""

    def make(email: str = "ada@example.com", password: str = PASSWORD, **fields: Any) -> Any:
        user = db_session.run(
            create_user(db_session.session, email=email, password=password, **fields)
        )
        db_session.commit()
        return user

    return make


def login(client: TestClient, username: str, password: str = PASSWORD, scope: str = "") -> Any:
    """POST the OAuth2 password form to /auth/token; the response."""
    data = {"username": username, "password": password}
    if scope:
        data["scope"] = scope
    return client.post("/auth/token", data=data)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
