"""Helpers of the keel.db tests: PostgreSQL test databases, skip-or-fail on missing services."""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import cast

from sqlalchemy import Table

from keel.db import Model
from tests.services import require

PG_ADMIN = os.environ.get("KEEL_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def table_of(model: type[Model]) -> Table:
    """A model's table (SQLAlchemy types ``__table__`` as the wider ``FromClause``)."""
    return cast(Table, model.__table__)


def unavailable(reason: str) -> None:
    """Skip, or fail when services are required (see ``tests/services.py``)."""
    require(reason)


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
