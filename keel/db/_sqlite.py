"""SQLite under asyncio: real transactions, one writer at a time, one thread hop per statement.

* Transactions: SQLAlchemy's ``BEGIN`` is replaced by keel's (see ``sqlite_begin``). In
  ``auto`` mode a transaction that only reads takes no lock, and the first write emits
  ``BEGIN IMMEDIATE``.
* Writers queue in the process: the write lock of the file is taken only after an
  ``asyncio.Lock`` of the engine, so concurrent writers wait their turn in order instead of
  all starting a write and backing off in SQLite's busy handler (which sleeps, and gives a
  long tail). Readers never take it (WAL lets them read while one writes).
* aiosqlite runs each call in its thread and wakes the event loop for the result; a
  ``SELECT`` through SQLAlchemy's adapter costs four such hops (cursor, execute, fetch,
  close), and the hand-over of the GIL between threads costs more than a small query.
  keel's cursor does a whole statement in one hop; a ``SELECT`` runs on the event loop's
  thread directly, within a budget of SQLite VM steps (a longer one is interrupted and run
  on the thread instead); and a commit or rollback with no transaction open costs nothing.
"""

from __future__ import annotations

import asyncio
import collections
import sqlite3
import threading
from typing import Any, cast

from sqlalchemy import event
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
)
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_only

__all__ = ["configure_sqlite", "wrote"]

_WRITING = "keel_sqlite_writing"
_WRITES = (
    "INSERT",
    "UPDATE",
    "DELETE",
    "REPLACE",
    "UPSERT",
    "CREATE",
    "DROP",
    "ALTER",
    "SAVEPOINT",
    "WITH",
)


def wrote(connection_info: dict[str, Any]) -> bool:
    """Whether an ``auto``-mode SQLite connection has begun a write transaction."""
    return bool(connection_info.get(_WRITING))


def _is_write(statement: str) -> bool:
    return statement.lstrip()[:10].upper().startswith(_WRITES)


class WriteLock:
    """The engine's writer queue: an ``asyncio.Lock`` held from a transaction's first write
    to its commit or rollback.

    Args:
        timeout: seconds to wait before failing as SQLite would ("database is locked").
    """

    def __init__(self, timeout: float = 5.0) -> None:
        self.timeout = timeout
        self._lock = asyncio.Lock()

    def acquire(self) -> None:
        """Wait for the lock (from SQLAlchemy's synchronous code, inside its greenlet)."""
        try:
            await_only(self._acquire())
        except TimeoutError:
            raise sqlite3.OperationalError("database is locked") from None

    async def _acquire(self) -> None:
        async with asyncio.timeout(self.timeout):
            await self._lock.acquire()

    def release(self) -> None:
        """Let the next writer in."""
        self._lock.release()


class _Cursor(AsyncAdapt_aiosqlite_cursor):
    """A cursor that runs execute, fetch and close in one call on aiosqlite's thread."""

    __slots__ = ()
    _awaitable_cursor_close = False

    def __init__(self, adapt_connection: Any) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        # The slot of aiosqlite's cursor holds what the last statement told instead.
        self._cursor = cast(Any, _Result(None, -1, None))
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return int(self._cursor.rowcount)

    @property
    def lastrowid(self) -> int:
        return int(self._cursor.lastrowid or 0)

    def close(self) -> None:
        self._rows.clear()

    async def _async_soft_close(self) -> None:
        return None

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        run = _run_many if isinstance(parameters, _Many) else _run_one
        args = parameters.rows if isinstance(parameters, _Many) else parameters
        conn = self._connection._conn
        inline = run is _run_one and _INLINE in self._connection.__dict__
        result = _run_inline(conn, operation, args) if inline else None
        if result is None:
            result = await self._connection._execute(run, conn, operation, args)
        self._cursor = cast(Any, result[0])
        self._rows = collections.deque(result[1])
        return None

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        try:
            return await_only(self._execute_async(operation, _Many(seq_of_parameters)))
        except Exception as error:
            self._adapt_connection._handle_exception(error)


class _Many:
    __slots__ = ("rows",)

    def __init__(self, rows: Any) -> None:
        self.rows = rows


class _Result:
    """What a cursor tells after a statement (it is closed by then)."""

    __slots__ = ("arraysize", "description", "lastrowid", "rowcount")

    def __init__(self, description: Any, rowcount: int, lastrowid: Any) -> None:
        self.description = description
        self.rowcount = rowcount
        self.lastrowid = lastrowid
        self.arraysize = 1


def _run_one(
    conn: sqlite3.Connection, operation: str, parameters: Any
) -> tuple[_Result, list[Any]]:
    cursor = conn.cursor()
    try:
        if parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return _Result(description, cursor.rowcount, cursor.lastrowid), rows
    finally:
        cursor.close()


def _run_many(conn: sqlite3.Connection, operation: str, rows: Any) -> tuple[_Result, list[Any]]:
    cursor = conn.cursor()
    try:
        cursor.executemany(operation, rows)
        return _Result(cursor.description, cursor.rowcount, cursor.lastrowid), []
    finally:
        cursor.close()


# A SELECT runs on the event loop's thread (no hop at all) within a budget of SQLite VM
# steps: the progress handler interrupts a longer one, which then runs on aiosqlite's
# thread instead. Reads take no lock under WAL, so they never wait on another writer.
_INLINE_STEPS = 1000  # VM instructions between two calls of the progress handler
_INLINE_CALLS = 20  # about 20,000 instructions (tens of microseconds) at most
_inline = threading.local()
_INLINE = "_keel_inline_reads"


def _progress() -> int:
    """SQLite's progress handler: interrupt an inline read that has run out of budget."""
    left = getattr(_inline, "left", None)
    if left is None:
        return 0  # on aiosqlite's thread: never interrupt
    _inline.left = left - 1
    return 1 if left <= 0 else 0


def _run_inline(
    conn: sqlite3.Connection, operation: str, parameters: Any
) -> tuple[_Result, list[Any]] | None:
    """Run a short SELECT here and now, or return None to send it to aiosqlite's thread."""
    if operation[:6].upper() != "SELECT":
        return None
    _inline.left = _INLINE_CALLS
    try:
        return _run_one(conn, operation, parameters)
    except sqlite3.OperationalError as exc:
        if "interrupted" in str(exc):
            return None  # too long for the event loop: run it on the thread
        raise
    finally:
        _inline.left = None


class _Connection(AsyncAdapt_aiosqlite_connection):
    """aiosqlite's adapter with keel's cursor; ends transactions only when one is open and
    then lets the next writer in."""

    __slots__ = ()
    _cursor_cls = _Cursor

    def _in_transaction(self) -> bool:
        raw = getattr(self._connection, "_connection", None)
        return raw is not None and bool(raw.in_transaction)

    def commit(self) -> None:
        try:
            if self._in_transaction():
                super().commit()
        finally:
            if not self._in_transaction():  # a failed COMMIT leaves it to the rollback
                _release(self)

    def rollback(self) -> None:
        try:
            if self._in_transaction():
                super().rollback()
        finally:
            _release(self)

    def close(self) -> None:
        try:
            super().close()
        finally:
            _release(self)

    def terminate(self) -> None:
        try:
            super().terminate()
        finally:
            _release(self)


_HOLDER = "_keel_write_lock"


def _release(connection: Any) -> None:
    raw = connection._connection
    lock: WriteLock | None = raw.__dict__.pop(_HOLDER, None)
    if lock is not None:
        lock.release()


def _acquire(dbapi_connection: Any, lock: WriteLock) -> None:
    raw = dbapi_connection._connection
    if _HOLDER not in raw.__dict__:
        lock.acquire()
        raw.__dict__[_HOLDER] = lock


def configure_sqlite(
    engine: AsyncEngine,
    *,
    wal: bool,
    foreign_keys: bool,
    begin: str,
    timeout: float = 5.0,
    inline_reads: bool = True,
) -> None:
    """Foreign keys, WAL, keel's transactions and writer queue on a SQLite engine; with
    ``inline_reads``, short ``SELECT`` statements run on the event loop's thread."""
    lock = WriteLock(timeout)
    aiosqlite = engine.dialect.driver == "aiosqlite"

    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        if aiosqlite and type(dbapi_connection) is AsyncAdapt_aiosqlite_connection:
            dbapi_connection.__class__ = _Connection
        if aiosqlite and inline_reads and isinstance(dbapi_connection, _Connection):
            try:  # needs check_same_thread=False (Database sets it)
                dbapi_connection._connection._conn.set_progress_handler(_progress, _INLINE_STEPS)
            except sqlite3.ProgrammingError:
                pass
            else:
                dbapi_connection._connection.__dict__[_INLINE] = True
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
            if wal:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    def take_lock(conn: Any) -> None:
        dbapi_connection = conn.connection.dbapi_connection
        if isinstance(dbapi_connection, _Connection):
            _acquire(dbapi_connection, lock)

    if begin != "auto":
        statement = f"BEGIN {begin.upper()}"

        @event.listens_for(engine.sync_engine, "begin")
        def on_begin(conn: Any) -> None:
            if begin == "immediate":
                take_lock(conn)
            conn.exec_driver_sql(statement)

        return

    # auto: SQLAlchemy's transaction starts without a BEGIN; the first statement that
    # writes emits BEGIN IMMEDIATE on the same cursor, so the rest of the transaction
    # (flushes, savepoints, commit) is atomic.
    @event.listens_for(engine.sync_engine, "begin")
    def on_begin_auto(conn: Any) -> None:
        conn.info[_WRITING] = False

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def on_execute(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        if conn.info.get(_WRITING) is False and _is_write(statement):
            take_lock(conn)
            cursor.execute("BEGIN IMMEDIATE")
            conn.info[_WRITING] = True

    @event.listens_for(engine.sync_engine, "commit")
    @event.listens_for(engine.sync_engine, "rollback")
    def on_end(conn: Any) -> None:
        conn.info.pop(_WRITING, None)
