"""Fixtures of the keel.tasks suite: the embedded broker runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.db.db_test_support import _admin, create_pg_database, drop_pg_database, pg_url
from tests.services import require


@pytest.fixture(scope="session")
def _postgres() -> None:
    try:
        asyncio.run(_admin("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        require(f"PostgreSQL is not reachable: {type(exc).__name__}: {exc}")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database for one test, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'tasks.db'}"
        return
    request.getfixturevalue("_postgres")
    name = create_pg_database()
    try:
        yield pg_url(name)
    finally:
        drop_pg_database(name)
