"""Fixtures of the keel.db suite: every database test runs on SQLite and on PostgreSQL.

PostgreSQL tests skip with the reason when the server is unreachable, and fail
instead when ``KEEL_REQUIRE_SERVICES=1`` (CI). ``KEEL_TEST_POSTGRES`` points at
another server (default ``postgresql://postgres@127.0.0.1:5432/postgres``).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# The user-facing plugin, loaded the way a project's conftest would load it
# (`pytest_plugins` is only allowed in the top-level conftest).
from keel.db.testing import _keel_db_shared, db_client, db_create_all, db_session  # noqa: F401

PG_ADMIN = os.environ.get("KEEL_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = ["sqlite", "postgresql"]


def services_required() -> bool:
    """Whether missing services fail the run (CI) instead of skipping tests."""
    return os.environ.get("KEEL_REQUIRE_SERVICES") == "1"


def unavailable(reason: str) -> None:
    """Skip, or fail when services are required."""
    if services_required():
        pytest.fail(f"{reason} (KEEL_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(reason)


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def pg_url(name: str) -> str:
    """The SQLAlchemy URL of database ``name`` on the test server."""
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}"


def create_pg_database() -> str:
    """Create an empty, uniquely named database and return its name."""
    name = f"keel_db_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    return name


def drop_pg_database(name: str) -> None:
    """Drop a test database, closing any connection left to it."""
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


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


def run(coro: Any) -> Any:
    """Run a coroutine to completion (for setup outside an app)."""
    return asyncio.run(coro)
