"""Fixtures of the keel.db suite: every database test runs on SQLite and on PostgreSQL.

PostgreSQL tests skip with the reason when the server is unreachable, and fail
instead when ``KEEL_REQUIRE_SERVICES=1`` (CI). ``KEEL_TEST_POSTGRES`` points at
another server (default ``postgresql://postgres@127.0.0.1:5432/postgres``).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# The user-facing plugin's fixtures (`pytest_plugins = ["keel.db.testing"]` is only
# allowed in a top-level conftest, which this suite does not own).
from keel.db.testing import (  # noqa: F401
    _keel_db_shared,
    db_client,
    db_create_all,
    db_session,
    db_test_databases,
)

from .db_test_support import (
    PG_ADMIN,
    _admin,
    create_pg_database,
    drop_pg_database,
    pg_url,
    unavailable,
)

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgres_available() -> bool:
    """Check once that the PostgreSQL server answers."""
    try:
        asyncio.run(_admin("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return _report(exc)
    return True


def _report(exc: BaseException) -> bool:
    unavailable(f"PostgreSQL not reachable at {PG_ADMIN}: {type(exc).__name__}: {exc}")
    return False


@pytest.fixture(scope="session")
def pg_session_database(postgres_available: bool) -> Iterator[str]:
    """One PostgreSQL database for the whole run (tests isolate through transactions)."""
    name = create_pg_database()
    yield pg_url(name)
    drop_pg_database(name)


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """``sqlite`` or ``postgresql``: database tests run once on each."""
    if request.param == "postgresql":
        request.getfixturevalue("postgres_available")
    return str(request.param)


@pytest.fixture(scope="session")
def database_url(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """A database shared by the run on the current backend."""
    if backend == "postgresql":
        return str(request.getfixturevalue("pg_session_database"))
    return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sqlite') / 'test.db'}"


@pytest.fixture
def fresh_database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """An empty database for this test only (migrations, real commits)."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        return
    name = create_pg_database()
    try:
        yield pg_url(name)
    finally:
        drop_pg_database(name)


@pytest.fixture(autouse=True)
def _clean_database_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("KEEL_DATABASE_") or key == "KEEL_APP":
            monkeypatch.delenv(key)
