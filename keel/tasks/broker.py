"""The embedded broker: a taskiq broker over the ``keel_tasks`` table of the app's database.

Delivery is at least once: a worker claims jobs by setting a lease (``lease_until``), keeps
the lease alive with a heartbeat while it holds them, and finishes a job with one UPDATE
after it ran. A worker that dies stops its heartbeat, so its jobs are claimed again once
their lease has passed, even when nothing new arrives. PostgreSQL claims with
``FOR UPDATE SKIP LOCKED`` (workers never wait on each other's rows); SQLite serialises
writers anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncGenerator, Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import Float, and_, bindparam, event, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from taskiq import AckableMessage, AsyncBroker, BrokerMessage

from keel.tasks._context import current_db_session
from keel.tasks.models import jobs

if TYPE_CHECKING:
    from keel.db import Database

__all__ = [
    "ATTEMPT",
    "BACKOFF",
    "BACKOFF_MAX",
    "IDEMPOTENCY_KEY",
    "MAX_TRIES",
    "RUN_AT",
    "DatabaseBroker",
    "GroupCommit",
    "LeaseLost",
    "worker_name",
]

logger = logging.getLogger("keel.tasks")

# Labels keel puts on every message (taskiq carries them next to the arguments).
RUN_AT = "keel_run_at"
MAX_TRIES = "keel_max_tries"
IDEMPOTENCY_KEY = "keel_idempotency_key"
ATTEMPT = "keel_attempt"
BACKOFF = "keel_backoff"
BACKOFF_MAX = "keel_backoff_max"


class LeaseLost(RuntimeError):
    """The job's lease passed and another worker claimed it: this run's effects are undone."""


def worker_name() -> str:
    """``host:pid:random``: who holds a lease (shown by ``keel tasks list``)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class DatabaseBroker(AsyncBroker):
    """A durable taskiq broker on the app's own database (SQLite or PostgreSQL).

    Args:
        database: the ``keel.db.Database`` holding the ``keel_tasks`` table.
        queue: the queue this broker sends to and reads from.
        lease: seconds a claimed job stays invisible without a heartbeat.
        poll_interval: seconds between checks of a quiet table (jobs enqueued in this
            process wake the worker at once).
        prefetch: most jobs claimed at once beyond the running ones.
    """

    def __init__(
        self,
        database: Database,
        *,
        queue: str = "default",
        lease: float = 10.0,
        poll_interval: float = 0.5,
        prefetch: int = 10,
    ) -> None:
        super().__init__()
        self.database = database
        self.queue = queue
        self.lease = lease
        self.poll_interval = poll_interval
        self.prefetch = prefetch
        self.worker = worker_name()
        self.held: dict[str, int] = {}
        """Jobs this process claimed and has not finished: id -> the attempt number."""
        self.finished: set[str] = set()
        """Jobs whose outcome was written with the task's own session (see keel.tasks.run)."""
        self._wake: asyncio.Event | None = None
        self._insert_statement: Any = None
        self._finishes: GroupCommit | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    async def startup(self) -> None:
        """Connect the database (idempotent: ``db.init_app``'s startup may come later)."""
        await self.database.connect()
        await super().startup()

    async def release_held(self) -> None:
        """Put the jobs held by this worker back in the queue (graceful shutdown)."""
        held, self.held = list(self.held), {}
        if not held:
            return
        async with self.database.engine.begin() as conn:
            await conn.execute(
                update(jobs)
                .where(jobs.c.id.in_(held), jobs.c.status == "running")
                .where(jobs.c.worker == self.worker)
                .values(
                    status="queued",
                    lease_until=None,
                    worker=None,
                    attempts=jobs.c.attempts - 1,
                    run_at=time.time(),
                )
            )
        logger.info("gave %d unfinished job(s) back to the queue", len(held))

    # -- sending ------------------------------------------------------------------------------

    async def kick(self, message: BrokerMessage) -> None:
        """Insert one job; inside a request (or a task) it joins that session's transaction."""
        await self.kick_many([message])

    async def kick_many(self, messages: Iterable[BrokerMessage]) -> None:
        """Insert jobs in one statement (a job whose id exists already is left alone)."""
        now = time.time()
        rows = [self._row(message, now) for message in messages]
        if not rows:
            return
        insert = self._insert()
        params: Any = rows[0] if len(rows) == 1 else rows
        session = current_db_session()
        if session is not None and session.bind is self.database.engine:
            await session.execute(insert, params)
            _wake_after_commit(session, self)
            return
        async with self.database.engine.begin() as conn:
            await conn.execute(insert, params)
        self.notify()

    def _insert(self) -> Any:
        """``INSERT ... ON CONFLICT (id) DO NOTHING``, built once (its SQL is cached)."""
        if self._insert_statement is None:
            dialect = postgresql if self.database.dialect == "postgresql" else sqlite
            self._insert_statement = dialect.insert(jobs).on_conflict_do_nothing(
                index_elements=["id"]
            )
        return self._insert_statement

    def _row(self, message: BrokerMessage, now: float) -> dict[str, Any]:
        labels = message.labels
        run_at = labels.get(RUN_AT)
        key = labels.get(IDEMPOTENCY_KEY)
        return {
            "id": message.task_id,
            "task": message.task_name,
            "queue": self.queue,
            "status": "queued",
            "message": message.message.decode(),
            "run_at": float(run_at) if run_at is not None else now,
            "attempts": 0,
            "max_tries": int(labels.get(MAX_TRIES, 1)),
            "idempotency_key": str(key) if key is not None else None,
            "created_at": now,
        }

    def notify(self) -> None:
        """Wake this process's worker (a job was committed here)."""
        if self._wake is not None:
            self._wake.set()

    # -- receiving ----------------------------------------------------------------------------

    async def listen(self) -> AsyncGenerator[bytes | AckableMessage, None]:
        """Claim due jobs (at most ``prefetch`` at a time) and hand them to the receiver."""
        self._wake = asyncio.Event()
        failing = False
        while True:
            self._wake.clear()
            try:
                claimed = await _finish_even_if_cancelled(self.claim(max(1, self.prefetch)))
            except Exception as exc:  # the database is down, or the table not made yet
                if not failing:
                    logger.error(
                        "cannot read the job table (%s: %s); retrying every second "
                        "(a missing table: run `keel db makemigrations` and `keel db migrate`)",
                        type(exc).__name__,
                        str(exc).splitlines()[0] if str(exc) else "",
                    )
                failing = True
                await asyncio.sleep(1.0)
                continue
            if failing:
                logger.info("reading the job table again")
                failing = False
            if not claimed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval)
                continue
            for job_id, data in claimed:
                yield AckableMessage(data=data, ack=_Ack(self, job_id))

    async def claim(self, limit: int) -> list[tuple[str, bytes]]:
        """Lease up to ``limit`` due jobs (new ones, and ones whose lease has passed)."""
        now = time.time()
        due = or_(
            and_(jobs.c.status == "queued", jobs.c.run_at <= now),
            and_(jobs.c.status == "running", jobs.c.lease_until < now),
        )
        pick = (
            select(jobs.c.id)
            .where(jobs.c.queue == self.queue, due)
            .order_by(jobs.c.run_at)
            .limit(limit)
        )
        if self.database.dialect == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        async with self.database.engine.begin() as conn:
            await self._bury_abandoned(conn, now)
            result = await conn.execute(
                update(jobs)
                .where(jobs.c.id.in_(pick.scalar_subquery()))
                .values(
                    status="running",
                    attempts=jobs.c.attempts + 1,
                    lease_until=now + self.lease,
                    worker=self.worker,
                )
                .returning(jobs.c.id, jobs.c.message, jobs.c.attempts, jobs.c.run_at)
            )
            # RETURNING follows no order: due first, first out
            rows = sorted(result.all(), key=lambda row: row[3])
        claimed = []
        for job_id, message, attempts, _ in rows:
            self.held[job_id] = attempts
            claimed.append((job_id, message.encode()))
        return claimed

    async def _bury_abandoned(self, conn: AsyncConnection, now: float) -> None:
        """Jobs whose worker died during their last try go to the dead letters."""
        await conn.execute(
            update(jobs)
            .where(jobs.c.queue == self.queue, jobs.c.status == "running")
            .where(jobs.c.lease_until < now, jobs.c.attempts >= jobs.c.max_tries)
            .values(
                status="dead",
                finished_at=now,
                lease_until=None,
                error="the worker running the job stopped before it finished (lease expired)",
            )
        )

    async def heartbeat(self, stop: asyncio.Event) -> None:
        """Extend the leases of held jobs every third of a lease, until ``stop`` is set."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.lease / 3)
                return
            held = list(self.held)
            if not held:
                continue
            try:
                async with self.database.engine.begin() as conn:
                    await conn.execute(
                        update(jobs)
                        .where(jobs.c.id.in_(held), jobs.c.worker == self.worker)
                        .where(jobs.c.status == "running")
                        .values(lease_until=time.time() + self.lease)
                    )
            except Exception:  # a database hiccup: try again at the next beat
                logger.exception("could not extend the leases of %d job(s)", len(held))

    # -- finishing ----------------------------------------------------------------------------

    def finish_statement(
        self,
        job_id: str,
        *,
        status: str,
        result: str | None = None,
        error: str | None = None,
        run_at: float | None = None,
    ) -> Any:
        """The UPDATE that records a try's outcome, guarded by this worker's attempt."""
        now = time.time()
        values: dict[str, Any] = {
            "status": status,
            "lease_until": None,
            "worker": None,
            "result": result,
            "error": error,
        }
        if status == "queued":
            values["run_at"] = run_at if run_at is not None else now
        else:
            values["finished_at"] = now
        return (
            update(jobs)
            .where(jobs.c.id == job_id, jobs.c.status == "running")
            .where(jobs.c.attempts == self.held.get(job_id, -1))
            .values(**values)
        )

    async def finish(
        self,
        job_id: str,
        *,
        status: str,
        result: str | None = None,
        error: str | None = None,
        run_at: float | None = None,
    ) -> None:
        """Record a try's outcome; returns once it is committed (a group commit)."""
        if self._finishes is None:
            self._finishes = GroupCommit(self.database, _FINISH)
        await self._finishes.add(
            {
                "job_id": job_id,
                "attempt": self.held.get(job_id, -1),
                "new_status": status,
                "result": result,
                "error": error,
                "run_at": run_at if status == "queued" else None,
                "finished_at": None if status == "queued" else time.time(),
            }
        )


class GroupCommit:
    """Runs one statement for many parameter sets: those that arrive while a transaction is
    being written go together into the next one (one commit per batch, not per row)."""

    def __init__(self, database: Database, statement: Any) -> None:
        self.database = database
        self.statement = statement
        self._pending: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._flushing = False

    async def add(self, params: dict[str, Any]) -> None:
        """Execute ``statement`` with ``params``; returns once committed."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((params, done))
        if not self._flushing:
            self._flushing = True
            asyncio.ensure_future(self._flush())
        await done

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    async with self.database.engine.begin() as conn:
                        await conn.execute(self.statement, [params for params, _ in batch])
                except Exception as exc:
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                else:
                    for _, done in batch:
                        if not done.done():
                            done.set_result(None)
        finally:
            self._flushing = False


_FINISH = (
    update(jobs)
    .where(
        jobs.c.id == bindparam("job_id"),
        jobs.c.status == "running",
        jobs.c.attempts == bindparam("attempt"),
    )
    .values(
        status=bindparam("new_status"),
        result=bindparam("result"),
        error=bindparam("error"),
        run_at=func.coalesce(bindparam("run_at", type_=Float), jobs.c.run_at),
        finished_at=bindparam("finished_at", type_=Float),
        lease_until=None,
        worker=None,
    )
)


async def _finish_even_if_cancelled(call: Any) -> Any:
    """Await ``call``; if the caller is cancelled meanwhile (a worker stopping), let the call
    finish first: cancelling SQLAlchemy inside a transaction strands its connection."""
    running = asyncio.ensure_future(call)
    try:
        return await asyncio.shield(running)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await running
        raise


class _Ack:
    """Called by taskiq's receiver once the job ran and its outcome was saved."""

    __slots__ = ("broker", "job_id")

    def __init__(self, broker: DatabaseBroker, job_id: str) -> None:
        self.broker = broker
        self.job_id = job_id

    def __call__(self) -> None:
        self.broker.held.pop(self.job_id, None)
        self.broker.finished.discard(self.job_id)


def _wake_after_commit(session: AsyncSession, broker: DatabaseBroker) -> None:
    """Wake the in-process worker when the request's transaction commits."""
    sync = session.sync_session
    if sync.info.get("keel_tasks_wake"):
        return
    sync.info["keel_tasks_wake"] = True
    event.listen(sync, "after_commit", lambda _session: broker.notify())
