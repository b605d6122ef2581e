"""``Database``: settings, the async engine, sessions and the app lifespan hooks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import MetaData
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from keel.db._sqlite import configure_sqlite, wrote
from keel.db.models import Model

if TYPE_CHECKING:
    from keel import App

__all__ = ["DEFAULT_URL", "Database", "DatabaseSettings", "wrote"]

DEFAULT_URL = "sqlite+aiosqlite:///./app.db"


class DatabaseSettings(BaseSettings):
    """Database settings read from ``KEEL_DATABASE_*`` environment variables and ``.env``.

    Attributes:
        url: ``KEEL_DATABASE_URL``; SQLite (aiosqlite) by default, or
            ``postgresql+asyncpg://user:pass@host/db``.
        echo: log every SQL statement.
        pool_size, max_overflow, pool_timeout, pool_recycle: connection pool
            tuning (SQLAlchemy's defaults when unset).
        pool_pre_ping: test each pooled connection before use so a dropped
            connection is replaced instead of failing a request; on by default
            except for SQLite.
        migrations: the migrations folder (``KEEL_DATABASE_MIGRATIONS``).
        sqlite_begin: how SQLite transactions start. ``auto`` (default): reads
            run without a transaction (each sees the latest commit, like
            PostgreSQL's READ COMMITTED) and the first write takes the write lock
            (``BEGIN IMMEDIATE``); writers queue in the process, in arrival order, for
            up to 5 s before failing with "database is locked", and readers never
            wait. ``immediate``: every transaction takes the write lock at once (and
            queues the same way). ``deferred``: SQLite's own default, without the
            queue (a transaction that read first and then writes may fail when
            another wrote meanwhile).
        sqlite_inline_reads: run short ``SELECT`` statements on the event loop's thread
            (no thread hop; a read that runs past a small budget of SQLite steps moves to
            aiosqlite's thread). On by default; ``KEEL_DATABASE_SQLITE_INLINE_READS=0``
            sends every statement to aiosqlite's thread.
        check_migrations: at startup, refuse to serve when the database is not
            at the latest migration or the models have changes no migration
            covers; by default on when the app is not in debug mode and the
            migrations folder exists.
    """

    model_config = SettingsConfigDict(env_prefix="KEEL_DATABASE_", env_file=".env", extra="ignore")

    url: str = DEFAULT_URL
    echo: bool = False
    pool_size: int | None = None
    max_overflow: int | None = None
    pool_timeout: float | None = None
    pool_recycle: int | None = None
    pool_pre_ping: bool | None = None
    migrations: str = "migrations"
    check_migrations: bool | None = None
    sqlite_begin: Literal["auto", "immediate", "deferred"] = "auto"
    sqlite_inline_reads: bool = True


class Database:
    """One database: its URL, engine, session factory and models.

    Construct it at import time (no connection is made), then call
    ``init_app(app)``: the engine is created at startup and disposed at
    shutdown, and handlers get a session through ``keel.db.Session``.

    Args:
        url: the SQLAlchemy async URL; ``KEEL_DATABASE_URL`` or
            ``sqlite+aiosqlite:///./app.db`` when omitted.
        metadata: the tables this database holds; ``Model.metadata`` by default.
        migrations: the migrations folder; ``KEEL_DATABASE_MIGRATIONS`` or
            ``./migrations`` when omitted.
        check_migrations: see ``DatabaseSettings.check_migrations``.
        engine_options: extra keyword arguments for ``create_async_engine``.
        **settings: overrides of the other ``DatabaseSettings`` fields.

    Example:
        db = Database()
        app = App()
        db.init_app(app)
    """

    def __init__(
        self,
        url: str | URL | None = None,
        *,
        metadata: MetaData | None = None,
        migrations: str | Path | None = None,
        check_migrations: bool | None = None,
        engine_options: dict[str, Any] | None = None,
        **settings: Any,
    ) -> None:
        unknown = set(settings) - set(DatabaseSettings.model_fields)
        if unknown:
            raise TypeError(
                f"Database() got unknown setting(s) {', '.join(sorted(unknown))}; "
                f"known: {', '.join(DatabaseSettings.model_fields)}"
            )
        overrides = {k: v for k, v in settings.items() if v is not None}
        if url is not None:
            overrides["url"] = str(url) if isinstance(url, str) else url.render_as_string(False)
        if migrations is not None:
            overrides["migrations"] = str(migrations)
        if check_migrations is not None:
            overrides["check_migrations"] = check_migrations
        self.settings = DatabaseSettings(**overrides)
        self.url: URL = make_url(self.settings.url)
        self.metadata: MetaData = metadata if metadata is not None else Model.metadata
        self.migrations = Path(self.settings.migrations)
        self.engine_options = dict(engine_options or {})
        self._engine: AsyncEngine | None = None
        self._sessionmaker: async_sessionmaker[AsyncSession] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"Database({self.url.render_as_string(hide_password=True)!r})"

    @property
    def dialect(self) -> str:
        """The backend name: ``"sqlite"`` or ``"postgresql"``."""
        return self.url.get_backend_name()

    @property
    def is_sqlite(self) -> bool:
        """Whether this is a SQLite database."""
        return self.dialect == "sqlite"

    @property
    def reads_without_transaction(self) -> bool:
        """SQLite in ``auto`` mode: reads run outside a transaction, so a request that wrote
        nothing has nothing to commit."""
        return self.is_sqlite and self.settings.sqlite_begin == "auto"

    @property
    def engine(self) -> AsyncEngine:
        """The engine; only between startup and shutdown (or ``connect``/``disconnect``)."""
        if self._engine is None:
            raise RuntimeError(
                f"{self!r} is not connected: call db.init_app(app) and start the app, "
                "or `await db.connect()` in a script"
            )
        return self._engine

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        """The session factory (``expire_on_commit=False``)."""
        if self._sessionmaker is None:
            self.engine  # noqa: B018 - raises the explanatory error
        assert self._sessionmaker is not None
        return self._sessionmaker

    def use_url(self, url: str | URL) -> None:
        """Point this database at another URL (the test plugin does it); call it before
        ``connect``, or the engine of the old URL is forgotten without being closed."""
        text = url if isinstance(url, str) else url.render_as_string(hide_password=False)
        self.settings = self.settings.model_copy(update={"url": text})
        self.url = make_url(text)
        if self._engine is not None:
            self._engine.sync_engine.dispose(close=False)
        self._engine = self._sessionmaker = self._loop = None

    def create_engine(self, *, sqlite_foreign_keys: bool = True, **options: Any) -> AsyncEngine:
        """Create a new engine for this URL with keel's settings (the caller disposes it).

        Args:
            sqlite_foreign_keys: enforce foreign keys on SQLite (migrations turn it off
                while tables are rebuilt).
            **options: ``create_async_engine`` arguments, over the settings.
        """
        kwargs: dict[str, Any] = {"echo": self.settings.echo}
        memory = self.is_sqlite and _is_memory(self.url)
        if not memory:
            for name in ("pool_size", "max_overflow", "pool_timeout", "pool_recycle"):
                value = getattr(self.settings, name)
                if value is not None:
                    kwargs[name] = value
        pre_ping = self.settings.pool_pre_ping
        kwargs["pool_pre_ping"] = (not self.is_sqlite) if pre_ping is None else pre_ping
        kwargs.update(self.engine_options)
        kwargs.update(options)
        if self.is_sqlite and not memory and self.url.database:
            Path(self.url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        inline = self.settings.sqlite_inline_reads
        if inline and self.is_sqlite and self.url.get_driver_name() == "aiosqlite":
            # keel runs short reads on the event loop's thread (see keel.db._sqlite).
            connect_args = dict(kwargs.get("connect_args") or {})
            connect_args.setdefault("check_same_thread", False)
            kwargs["connect_args"] = connect_args
        engine = create_async_engine(self.url, **kwargs)
        if self.is_sqlite:
            configure_sqlite(
                engine,
                wal=not memory,
                foreign_keys=sqlite_foreign_keys,
                begin=self.settings.sqlite_begin,
                inline_reads=inline,
            )
        return engine

    async def connect(self) -> None:
        """Create the engine and session factory (done at app startup; idempotent)."""
        loop = asyncio.get_running_loop()
        if self._engine is not None:
            if self._loop is loop:
                return
            # Connections belong to the event loop that opened them (a second test
            # client, say): forget them without touching them and start afresh.
            self._engine.sync_engine.dispose(close=False)
        self._loop = loop
        self._engine = self.create_engine()
        self._sessionmaker = async_sessionmaker(self._engine, expire_on_commit=False)

    async def disconnect(self) -> None:
        """Dispose of the engine and its pooled connections (done at app shutdown)."""
        engine, self._engine, self._sessionmaker = self._engine, None, None
        if engine is not None:
            await engine.dispose()

    async def __aenter__(self) -> Database:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.disconnect()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session outside a request: committed on success, rolled back on error.

        Example:
            async with db.session() as session:
                session.add(Author(name="Ursula"))
        """
        async with self.sessionmaker() as session:
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise
            await session.commit()

    health_check_name = "database"
    """The name of :meth:`health_check` in ``/readyz`` (see ``keel.health``)."""

    async def health_check(self) -> None:
        """Readiness check: a ``SELECT 1`` on a pooled connection (raises when it fails)."""
        async with self.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def startup_check(self) -> str:
        """``keel check``: the database is at the latest migration and matches the models
        (raises ``MigrationError`` saying what to run otherwise)."""
        from keel.db import migrations

        if not self.migrations.is_dir():
            return f"no migrations folder at {self.migrations}: nothing to compare"
        state = await asyncio.to_thread(migrations.check, self)
        problem = state.problem()
        if problem is not None:
            raise migrations.MigrationError(problem)
        return "the database is at the latest migration and matches the models"

    async def create_all(self) -> None:
        """Create the tables that do not exist yet (tests and prototypes; use migrations)."""
        async with self.engine.begin() as conn:
            await conn.run_sync(self.metadata.create_all)

    async def drop_all(self) -> None:
        """Drop every table of ``metadata``."""
        async with self.engine.begin() as conn:
            await conn.run_sync(self.metadata.drop_all)

    def init_app(self, app: App) -> None:
        """Attach to an app: lifespan hooks, ``app.state.database``, error handlers.

        Args:
            app: the keel ``App``; the ``Session`` dependency finds this database
                through ``app.state.database``.
        """
        from keel.db.errors import register_exception_handlers

        setattr(app.state, "database", self)  # noqa: B010 - State is a free namespace
        app.on_startup(self._startup(app))
        app.on_shutdown(self.disconnect)
        register_exception_handlers(app)

    def _startup(self, app: App) -> Any:
        async def startup() -> None:
            await self.connect()
            check = self.settings.check_migrations
            if check is None:
                check = not getattr(app, "debug", False) and self.migrations.is_dir()
            if check:
                from keel.db.migrations import check_database

                try:
                    await check_database(self)
                except BaseException:
                    await self.disconnect()
                    raise

        return startup


def _is_memory(url: URL) -> bool:
    database = url.database or ""
    return database in ("", ":memory:") or "mode=memory" in database or ":memory:" in database
