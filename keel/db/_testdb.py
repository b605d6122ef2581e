"""Test databases: created for a test run next to the app's database, dropped at its end.

``keel.db.testing`` never opens the database an app is configured with (a developer's
``KEEL_DATABASE_URL``, say): it creates a new one alongside it, builds the schema there
(from the migrations when the app has them) and points the app's ``Database`` at it.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from keel.db.database import Database, _is_memory
from keel.db.migrations import _run, migrate

__all__ = ["TestDatabase", "TestDatabases"]

_PG_NAME_LIMIT = 63


@dataclass
class TestDatabase:
    """One database created for the test run.

    Attributes:
        url: its SQLAlchemy URL.
        migrated: whether its schema was built from the app's migrations (otherwise
            each test creates the tables inside its transaction).
    """

    __test__ = False  # not a test class, despite the name

    url: str
    migrated: bool
    _drop: URL | None = None
    _folder: Path | None = None

    def drop(self) -> None:
        """Delete the database (a PostgreSQL ``DROP DATABASE`` or the SQLite folder)."""
        if self._drop is not None:
            name = self._drop.database
            _run(lambda: _admin(self._drop, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            self._drop = None
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None


@dataclass
class TestDatabases:
    """The test databases of one test run, one per app database (URL and migrations)."""

    __test__ = False

    created: dict[tuple[str, str], TestDatabase] = field(default_factory=dict)

    def for_database(self, database: Database) -> TestDatabase:
        """The test database standing in for ``database``; created on first use."""
        migrations = database.migrations / "versions"
        has_migrations = migrations.is_dir()
        key = (database.url.render_as_string(hide_password=False), str(migrations.resolve()))
        if key not in self.created:
            self.created[key] = create_test_database(database, migrate_schema=has_migrations)
        return self.created[key]

    def drop_all(self) -> None:
        """Drop every database this run created."""
        for test_database in self.created.values():
            test_database.drop()
        self.created.clear()


def create_test_database(database: Database, *, migrate_schema: bool) -> TestDatabase:
    """Create an empty database beside ``database``'s and, optionally, migrate it to head.

    SQLite: a file in a new temporary folder (an in-memory URL is used as it is).
    PostgreSQL: ``<name>_test_<random>`` on the same server, created through its
    ``postgres`` database.
    """
    url = database.url
    if database.is_sqlite:
        if _is_memory(url):
            return TestDatabase(url.render_as_string(hide_password=False), migrated=False)
        folder = Path(tempfile.mkdtemp(prefix="keel-test-"))
        target = url.set(database=str(folder / "test.db"))
        test_database = TestDatabase(_text(target), migrated=False, _folder=folder)
    elif database.dialect == "postgresql":
        base = (url.database or "keel")[: _PG_NAME_LIMIT - 14]
        name = f"{base}_test_{uuid.uuid4().hex[:8]}"
        admin = url.set(database="postgres")
        _run(lambda: _admin(admin, f'CREATE DATABASE "{name}"'))
        test_database = TestDatabase(
            _text(url.set(database=name)), migrated=False, _drop=url.set(database=name)
        )
    else:
        raise RuntimeError(
            f"keel.db.testing creates test databases on SQLite and PostgreSQL, not {url.drivername}"
        )
    if migrate_schema:
        original = database.url
        database.use_url(test_database.url)
        try:
            migrate(database)
        except BaseException:
            test_database.drop()
            raise
        finally:
            database.use_url(original)
        test_database.migrated = True
    return test_database


def _text(url: URL) -> str:
    return url.render_as_string(hide_password=False)


async def _admin(url: URL | None, sql: str) -> None:
    """Run one statement outside a transaction (CREATE/DROP DATABASE)."""
    assert url is not None
    target = url if url.database == "postgres" else url.set(database="postgres")
    engine = create_async_engine(make_url(target), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql(sql)
    finally:
        await engine.dispose()
