"""Pytest fixtures: every test runs in a transaction that is rolled back at its end.

Enable them in the project's top-level ``conftest.py`` and give them the app::

    pytest_plugins = ["keel.db.testing"]

    @pytest.fixture
    def app():
        from myproject.main import app
        return app

Then a test takes ``db_client`` (a started ``TestClient``) and ``db_session``
(the same database session the app's handlers get, with synchronous methods)::

    def test_create(db_client, db_session):
        db_session.add(Author(name="Ursula"))
        db_session.flush()
        assert db_client.get("/authors").json()["total"] == 1

The tests never open the database the app is configured with: the first test
creates a test database beside it (a temporary SQLite file, or
``<name>_test_<random>`` on the same PostgreSQL server), and the run drops it at
its end. When the app has a migrations folder the test database is migrated to
the latest revision once; otherwise each test creates the models' tables inside
its transaction (``db_create_all`` overrides the choice). Requests run one at a
time against that one session: concurrency tests need a real database of their own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from typing import Any, TypeVar

import pytest
from sqlalchemy import Executable, Result
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, AsyncSessionTransaction

from keel import App
from keel.db._testdb import TestDatabase, TestDatabases
from keel.db.database import Database
from keel.db.session import database_of, get_session
from keel.testing import TestClient

__all__ = [
    "SharedSession",
    "TestDatabase",
    "TestDatabases",
    "TestSession",
    "db_client",
    "db_create_all",
    "db_session",
    "db_test_databases",
]

T = TypeVar("T")


class SharedSession:
    """One connection in an open transaction, and a session over it that commits to savepoints.

    The session is created with ``join_transaction_mode="create_savepoint"``: a
    ``commit()`` (by a handler or the test) releases a savepoint and a
    ``rollback()`` returns to it, while the outer transaction stays open until
    ``close()`` rolls everything back.
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self.connection: AsyncConnection | None = None
        self.session: AsyncSession | None = None
        self._outer: Any = None

    async def open(self, *, create_all: bool = True) -> AsyncSession:
        """Connect, begin the outer transaction, create the tables, make the session."""
        self.connection = await self.database.engine.connect()
        self._outer = await self.connection.begin()
        if create_all:
            await self.connection.run_sync(self.database.metadata.create_all)
        self.session = AsyncSession(
            bind=self.connection,
            join_transaction_mode="create_savepoint",
            expire_on_commit=False,
        )
        return self.session

    async def close(self) -> None:
        """Roll back everything the test and its requests did, and release the connection."""
        if self.session is not None:
            await self.session.close()
        if self._outer is not None and self._outer.is_active:
            await self._outer.rollback()
        if self.connection is not None:
            await self.connection.close()
        self.session = self.connection = self._outer = None

    async def dependency(self) -> AsyncIterator[AsyncSession]:
        """Stands in for ``get_session``: the shared session, committed or rolled back."""
        session = self.session
        assert session is not None, "the shared session is closed"
        if session.in_transaction():
            # What the test wrote so far becomes visible and survives a failing request.
            await session.commit()
        try:
            yield session
            await session.commit()
        except BaseException:
            # The handler raised, or the commit after it failed (a 409 found at commit
            # time): return to the savepoint so the next request and the test go on.
            await session.rollback()
            raise


class TestSession:
    """The shared ``AsyncSession`` with synchronous methods, for synchronous tests.

    Each method runs the session call on the app's event loop. ``session`` is
    the ``AsyncSession`` itself; ``run(coro)`` runs any coroutine there.
    """

    __test__ = False  # not a test class, despite the name

    def __init__(self, session: AsyncSession, run: Callable[[Coroutine[Any, Any, Any]], Any]):
        self.session = session
        self._run = run

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the app's event loop and return its result."""
        result: T = self._run(coro)
        return result

    def add(self, obj: object) -> None:
        """Add an object (written at the next flush or commit)."""
        self.session.add(obj)

    def add_all(self, objs: Sequence[object]) -> None:
        """Add several objects."""
        self.session.add_all(objs)

    def flush(self) -> None:
        """Write pending changes (inside the test's transaction)."""
        self.run(self.session.flush())

    def commit(self) -> None:
        """Commit to a savepoint (rolled back with the rest at the end of the test)."""
        self.run(self.session.commit())

    def rollback(self) -> None:
        """Undo the changes since the last commit."""
        self.run(self.session.rollback())

    def refresh(self, obj: object) -> None:
        """Reload an object's attributes from the database."""
        self.run(self.session.refresh(obj))

    def delete(self, obj: object) -> None:
        """Delete an object (at the next flush)."""
        self.run(self.session.delete(obj))

    def expire_all(self) -> None:
        """Forget loaded state so the next access reads the database."""
        self.session.expire_all()

    def get(self, model: type[T], ident: Any) -> T | None:
        """Load by primary key."""
        return self.run(self.session.get(model, ident, populate_existing=True))

    def execute(self, statement: Executable) -> Result[Any]:
        """Execute a statement and return its (buffered) result."""
        return self.run(self.session.execute(statement))

    def scalar(self, statement: Executable) -> Any:
        """The first column of the first row."""
        return self.run(self.session.scalar(statement))

    def scalars(self, statement: Executable) -> list[Any]:
        """The first column of every row."""

        async def fetch() -> list[Any]:
            result = await self.session.scalars(statement)
            return list(result.unique().all())

        return self.run(fetch())

    def begin_nested(self) -> AsyncSessionTransaction:
        """Start a savepoint explicitly."""
        return self.run(_begin_nested(self.session))


async def _begin_nested(session: AsyncSession) -> AsyncSessionTransaction:
    return await session.begin_nested()


@pytest.fixture(scope="session")
def db_test_databases() -> Iterator[TestDatabases]:
    """The databases this test run creates (one per app database), dropped at its end."""
    databases = TestDatabases()
    try:
        yield databases
    finally:
        databases.drop_all()


@pytest.fixture
def db_create_all() -> bool | None:
    """Whether each test creates the models' tables in its transaction.

    ``None`` (the default): only when the schema did not come from migrations.
    """
    return None


@pytest.fixture
def _keel_db_shared(
    app: App, db_create_all: bool | None, db_test_databases: TestDatabases
) -> Iterator[tuple[TestClient, SharedSession]]:
    database = database_of(app)
    test_database = db_test_databases.for_database(database)
    create_all = (not test_database.migrated) if db_create_all is None else db_create_all
    original = database.url
    database.use_url(test_database.url)
    try:
        with TestClient(app) as client:
            shared = SharedSession(database)
            client.run(shared.open(create_all=create_all))
            previous = app.dependency_overrides.get(get_session)
            app.dependency_overrides[get_session] = shared.dependency
            try:
                yield client, shared
            finally:
                if previous is None:
                    del app.dependency_overrides[get_session]
                else:
                    app.dependency_overrides[get_session] = previous
                client.run(shared.close())
    finally:
        database.use_url(original)


@pytest.fixture
def db_client(_keel_db_shared: tuple[TestClient, SharedSession]) -> TestClient:
    """A started ``TestClient`` for the ``app`` fixture, its requests inside the test's
    transaction."""
    return _keel_db_shared[0]


@pytest.fixture
def db_session(_keel_db_shared: tuple[TestClient, SharedSession]) -> TestSession:
    """The session the app's handlers get during this test, with synchronous methods."""
    client, shared = _keel_db_shared
    assert shared.session is not None
    return TestSession(shared.session, client.run)
