"""SQLite under asyncio: writers queue inside the process, statements cost one thread hop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from keel.db import Database, database_of

from .db_test_models import Author, make_app


def no_busy_wait(path: Path) -> Database:
    """A database whose connections fail at once ("database is locked") when another holds
    the write lock: any writer that reaches SQLite while another writes shows up as an error."""
    return Database(
        f"sqlite+aiosqlite:///{path}",
        pool_size=16,
        max_overflow=16,
        engine_options={"connect_args": {"timeout": 0}},
    )


async def _insert_concurrently(db: Database, count: int) -> list[BaseException | None]:
    async def insert(i: int) -> None:
        async with db.session() as session:
            await session.scalar(select(func.count(Author.id)))  # a read first: no lock
            await asyncio.sleep(0)
            session.add(Author(name=f"writer {i}"))
            await session.flush()
            await asyncio.sleep(0.001)  # hold the write a moment, as a handler would

    return await asyncio.gather(*(insert(i) for i in range(count)), return_exceptions=True)


def test_concurrent_writers_queue_in_the_process(tmp_path: Path) -> None:
    async def main() -> tuple[list[BaseException | None], int]:
        db = no_busy_wait(tmp_path / "w.db")
        async with db:
            await db.create_all()
            results = await _insert_concurrently(db, 32)
            async with db.session() as session:
                count = await session.scalar(select(func.count(Author.id)))
        return results, int(count or 0)

    results, count = asyncio.run(main())
    assert [r for r in results if r is not None] == []
    assert count == 32


def test_a_failed_write_lets_the_next_writer_in(tmp_path: Path) -> None:
    async def main() -> int:
        db = no_busy_wait(tmp_path / "f.db")
        async with db:
            await db.create_all()
            async with db.session() as session:
                session.add(Author(name="taken"))
            for _ in range(3):
                try:
                    async with db.session() as session:
                        session.add(Author(name="taken"))
                except Exception as exc:  # noqa: BLE001 - the unique violation
                    assert "UNIQUE" in str(exc)
            async with asyncio.timeout(2):  # not the lock's 5 s
                async with db.session() as session:
                    session.add(Author(name="next"))
            async with db.session() as session:
                return int(await session.scalar(select(func.count(Author.id))) or 0)

    assert asyncio.run(main()) == 2


def test_reads_do_not_wait_for_a_writer(tmp_path: Path) -> None:
    async def main() -> int:
        db = no_busy_wait(tmp_path / "r.db")
        async with db:
            await db.create_all()
            async with db.session() as writer:
                writer.add(Author(name="uncommitted"))
                await writer.flush()  # holds the write lock until the block ends
                async with asyncio.timeout(1), db.session() as reader:
                    return int(await reader.scalar(select(func.count(Author.id))) or 0)

    assert asyncio.run(main()) == 0


def test_statements_return_rows_rowcounts_and_ids(tmp_path: Path) -> None:
    async def main() -> tuple[object, ...]:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 's.db'}")
        async with db, db.engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
            inserted = await conn.execute(text("INSERT INTO t (v) VALUES ('a')"))
            many = await conn.execute(
                text("INSERT INTO t (v) VALUES (:v)"), [{"v": "b"}, {"v": "c"}]
            )
            updated = await conn.execute(text("UPDATE t SET v = 'z' WHERE id > 1"))
            rows = (await conn.execute(text("SELECT id, v FROM t ORDER BY id"))).all()
            streamed = [r async for r in await conn.stream(text("SELECT v FROM t ORDER BY id"))]
            return inserted.lastrowid, many.rowcount, updated.rowcount, rows, streamed

    lastrowid, many, updated, rows, streamed = asyncio.run(main())
    assert (lastrowid, many, updated) == (1, 2, 2)
    assert [tuple(r) for r in rows] == [(1, "a"), (2, "z"), (3, "z")]  # type: ignore[attr-defined]
    assert [tuple(r) for r in streamed] == [("a",), ("z",), ("z",)]  # type: ignore[attr-defined]


async def _asgi(app: Any, method: str, path: str, body: bytes = b"") -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.Event().wait()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    status: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    return status[0]


def test_concurrent_requests_commit_through_the_request_session(tmp_path: Path) -> None:
    """32 requests at once, each committing before its response, none waiting on SQLite."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"

    async def main() -> tuple[list[int], int]:
        async with Database(url) as setup:
            await setup.create_all()
        app = make_app(url, pool_size=16, max_overflow=16)
        database = database_of(app)
        database.engine_options["connect_args"] = {"timeout": 0}
        for hook in app.startup_handlers:
            await hook()
        try:
            statuses = await asyncio.gather(
                *(
                    _asgi(app, "POST", "/authors", f'{{"name": "writer {i}"}}'.encode())
                    for i in range(32)
                )
            )
            async with database.session() as session:
                count = await session.scalar(select(func.count(Author.id)))
        finally:
            for hook in app.shutdown_handlers:
                await hook()
        return list(statuses), int(count or 0)

    statuses, count = asyncio.run(main())
    assert statuses == [201] * 32
    assert count == 32


async def loop_turns_during(statement: Awaitable[Any]) -> tuple[Any, int]:
    """Await ``statement`` and count how often the event loop ran something else meanwhile
    (0 when it never left the loop's thread)."""
    turns = 0

    async def ticker() -> None:
        nonlocal turns
        while True:
            await asyncio.sleep(0)
            turns += 1

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    before = turns
    try:
        result = await statement
    finally:
        task.cancel()
    return result, turns - before


def test_a_long_read_leaves_the_event_loop_for_aiosqlites_thread(tmp_path: Path) -> None:
    """Short SELECTs run on the loop's thread; one over the step budget is interrupted there
    and run again on aiosqlite's thread, with the same result."""

    async def main() -> tuple[int, int, int, int]:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'l.db'}")
        async with db, db.engine.connect() as conn:
            await conn.execute(text("CREATE TABLE n (i INTEGER)"))
            await conn.execute(text("INSERT INTO n VALUES (:i)"), [{"i": i} for i in range(600)])
            await conn.commit()
            short, short_turns = await loop_turns_during(
                conn.execute(text("SELECT count(*) FROM n"))
            )
            long, long_turns = await loop_turns_during(
                conn.execute(text("SELECT count(*) FROM n a, n b"))
            )
            return short.scalar_one(), long.scalar_one(), short_turns, long_turns

    short, long, short_turns, long_turns = asyncio.run(main())
    assert (short, long) == (600, 360_000)
    assert short_turns == 0  # the short read never left the loop's thread
    assert long_turns > 0  # the loop kept running while the long read ran on the thread


def test_inline_reads_can_be_turned_off(tmp_path: Path) -> None:
    """A short SELECT runs without leaving the loop's thread, unless ``sqlite_inline_reads``
    is off: then it is sent to aiosqlite's thread and the loop runs meanwhile."""

    async def turns_during_a_short_read(inline: bool) -> int:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'i.db'}", sqlite_inline_reads=inline)
        async with db, db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            result, turns = await loop_turns_during(conn.execute(text("SELECT 42")))
            assert result.scalar_one() == 42
            return turns

    assert asyncio.run(turns_during_a_short_read(True)) == 0
    assert asyncio.run(turns_during_a_short_read(False)) > 0
