"""The per-request session: commit, rollback, close, and a database that went away."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, insert, select, text

from keel import App
from keel.db import Database, Session, database_of
from keel.testing import TestClient

from .db_test_models import Author, make_app


@pytest.fixture
def app(database_url: str) -> App:
    return make_app(database_url)


def count_authors(client: TestClient, app: App) -> int:
    async def count() -> int:
        async with database_of(app).session() as session:
            return int(await session.scalar(select(func.count()).select_from(Author)) or 0)

    return client.run(count())


@pytest.fixture
def live(fresh_database_url: str) -> object:
    """An app on its own empty database, with real commits (no test transaction)."""
    app = make_app(fresh_database_url)
    with TestClient(app) as client:
        client.run(database_of(app).create_all())
        yield app, client


def test_handler_success_commits(live: tuple[App, TestClient]) -> None:
    app, client = live
    response = client.post("/authors", json={"name": "Ursula"})
    assert response.status_code == 201, response.text
    assert response.json()["id"] >= 1
    assert count_authors(client, app) == 1


def test_handler_error_rolls_back(live: tuple[App, TestClient]) -> None:
    app, client = live
    response = client.post("/authors-then-fail", json={"name": "Ghost"})
    assert response.status_code == 400
    assert count_authors(client, app) == 0


def test_failing_commit_becomes_the_response(live: tuple[App, TestClient]) -> None:
    app, client = live
    assert client.post("/counters").status_code == 201
    # The handler does not flush: the FK error is raised by the commit, after the
    # handler returned, and still answers 422 (and nothing claims success).
    response = client.post("/books/deferred", json={"title": "Orphan", "author_id": 999})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "author_id"


def test_sessions_are_closed(live: tuple[App, TestClient]) -> None:
    app, client = live
    for i in range(30):
        assert client.post("/authors", json={"name": f"a{i}"}).status_code == 201
    pool = database_of(app).engine.pool
    assert pool.checkedout() == 0  # type: ignore[attr-defined]


def test_session_outside_requests(fresh_database_url: str) -> None:
    db = Database(fresh_database_url)

    async def scenario() -> list[str]:
        async with db:
            await db.create_all()
            async with db.session() as session:
                session.add(Author(name="Script"))
            with pytest.raises(RuntimeError):
                async with db.session() as session:
                    session.add(Author(name="Lost"))
                    await session.flush()
                    raise RuntimeError("boom")
            async with db.session() as session:
                return list(await session.scalars(select(Author.name)))

    assert asyncio.run(scenario()) == ["Script"]


def test_engine_only_while_connected() -> None:
    db = Database("sqlite+aiosqlite://")
    with pytest.raises(RuntimeError, match="init_app"):
        db.engine  # noqa: B018
    assert "sqlite" in repr(db)


def test_sqlite_pragmas(tmp_path: object) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/sub/dir/app.db")

    async def pragmas() -> tuple[str, int]:
        async with db, db.engine.connect() as conn:
            mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar_one()
            fks = (await conn.execute(text("PRAGMA foreign_keys"))).scalar_one()
            return mode, fks

    assert asyncio.run(pragmas()) == ("wal", 1)


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEL_DATABASE_URL", "postgresql+asyncpg://u:secret@db.example/app")
    monkeypatch.setenv("KEEL_DATABASE_POOL_SIZE", "3")
    db = Database()
    assert db.dialect == "postgresql"
    assert db.settings.pool_size == 3
    assert "secret" not in repr(db)
    assert Database().url.database == "app"


def test_unknown_setting_is_an_error() -> None:
    with pytest.raises(TypeError, match="pool_sise"):
        Database("sqlite+aiosqlite://", pool_sise=5)


def test_default_url_is_sqlite_file() -> None:
    db = Database()
    assert db.is_sqlite
    assert db.url.database == "./app.db"


def test_reconnects_after_backend_termination(backend: str, fresh_database_url: str) -> None:
    if backend != "postgresql":
        pytest.skip("pg_terminate_backend is PostgreSQL only")
    app = make_app(fresh_database_url)
    with TestClient(app) as client:
        db = database_of(app)
        client.run(db.create_all())
        assert client.post("/authors", json={"name": "Before"}).status_code == 201
        assert client.get("/authors").status_code == 200

        async def terminate() -> int:
            name = db.url.database
            async with db.engine.connect() as conn:
                result = await conn.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
                killed = int(result.scalar_one())
                # The connection running this query goes too.
                await conn.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
            return killed

        with pytest.raises(Exception):  # noqa: B017, PT011 - our own connection is killed
            client.run(terminate())
        response = client.get("/authors")
        assert response.status_code == 200, response.text
        assert response.json()["total"] == 1
        assert client.post("/authors", json={"name": "After"}).status_code == 201


def test_core_dml_and_pending_objects_are_committed(live: tuple[App, TestClient]) -> None:
    """A request that only reads skips the commit; any write, however it is made, commits."""
    app, client = live

    @app.post("/raw-insert")
    async def raw_insert(session: Session) -> dict[str, bool]:
        await session.execute(insert(Author).values(name="Core"))
        return {"ok": True}

    @app.post("/pending")
    async def pending(session: Session) -> dict[str, bool]:
        session.add(Author(name="Pending"))  # not flushed by the handler
        return {"ok": True}

    @app.get("/read")
    async def read(session: Session) -> dict[str, int]:
        return {"n": int(await session.scalar(select(func.count()).select_from(Author)) or 0)}

    assert client.post("/raw-insert").status_code == 200
    assert client.post("/pending").status_code == 200
    assert client.get("/read").json() == {"n": 2}
    assert count_authors(client, app) == 2
