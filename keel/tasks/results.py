"""Job outcomes: the taskiq result backend on ``keel_tasks``, retries with backoff, dead letters."""

from __future__ import annotations

import dataclasses
import json
import random
import time
import traceback
from typing import TYPE_CHECKING, Any, Literal

from pydantic_core import to_jsonable_python
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from taskiq import AsyncResultBackend, TaskiqResult

from keel.tasks.broker import (
    ATTEMPT,
    BACKOFF,
    BACKOFF_MAX,
    MAX_TRIES,
    DatabaseBroker,
    GroupCommit,
)
from keel.tasks.models import jobs

if TYPE_CHECKING:
    from keel.db import Database

__all__ = [
    "DatabaseResultBackend",
    "JobInfo",
    "JobStatus",
    "backoff_delay",
    "describe_error",
    "dump_result",
    "job_info",
    "read_job",
]

JobStatus = Literal["queued", "running", "done", "dead", "unknown"]
"""Where a job is; ``unknown``: no record of it (no database to keep results, or purged)."""


@dataclasses.dataclass(frozen=True)
class JobInfo:
    """A job's row: its status, tries and outcome.

    Attributes:
        id: the job id.
        task: the task name.
        status: ``queued``, ``running``, ``done`` or ``dead``.
        attempts: tries started so far.
        max_tries: tries allowed.
        result: the return value as JSON data (``done`` only).
        error: the last failure (type, message and traceback), if any.
        run_at: when it runs (epoch seconds; a retry's time after a failure).
        created_at: when it was enqueued; ``finished_at``: when it finished.
        idempotency_key: the key it was enqueued with.
        worker: who holds it while ``running``.
    """

    id: str
    task: str
    status: JobStatus
    attempts: int
    max_tries: int
    result: Any
    error: str | None
    run_at: float
    created_at: float
    finished_at: float | None
    idempotency_key: str | None
    worker: str | None


async def read_job(database: Database, job_id: str) -> JobInfo | None:
    """The job's row, or ``None``."""
    async with database.engine.connect() as conn:
        row = (await conn.execute(select(jobs).where(jobs.c.id == job_id))).mappings().first()
    return None if row is None else job_info(row)


def job_info(row: Any) -> JobInfo:
    """A :class:`JobInfo` from a ``keel_tasks`` row mapping."""
    result = row["result"]
    return JobInfo(
        id=row["id"],
        task=row["task"],
        status=row["status"],
        attempts=row["attempts"],
        max_tries=row["max_tries"],
        result=json.loads(result) if result is not None else None,
        error=row["error"],
        run_at=row["run_at"],
        created_at=row["created_at"],
        finished_at=row["finished_at"],
        idempotency_key=row["idempotency_key"],
        worker=row["worker"],
    )


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Seconds before the retry after failed try ``attempt``: ``base * 2**(attempt-1)``,
    at most ``cap``, less up to 10 % jitter (so retries of a burst spread out)."""
    delay: float = min(base * 2.0 ** max(0, attempt - 1), cap)
    return delay * (1 - random.random() * 0.1)  # noqa: S311 - spreading, not security


def dump_result(value: Any) -> str:
    """A return value as JSON text (pydantic models, dates and UUIDs included)."""
    return json.dumps(to_jsonable_python(value), separators=(",", ":"))


def describe_error(error: BaseException | None) -> str:
    """``Type: message`` and the last frames, bounded."""
    if error is None:
        return "the task failed"
    lines = traceback.format_exception(type(error), error, error.__traceback__)
    text = "".join(lines[-6:])
    return text[-4000:]


class DatabaseResultBackend(AsyncResultBackend[Any]):
    """Records each try in ``keel_tasks``: done, queued again for a retry, or dead.

    With the embedded broker the row is the job itself (updated, guarded by the attempt the
    worker claimed); with another broker the row is written here (upserted by job id) so
    results, retries and dead letters are inspectable the same way.
    """

    def __init__(self, database: Database, broker: Any) -> None:
        self.database = database
        self.broker = broker
        self._upserts: GroupCommit | None = None

    async def set_result(self, task_id: str, result: TaskiqResult[Any]) -> None:
        """Store the outcome of one try."""
        broker = self.broker
        embedded = isinstance(broker, DatabaseBroker)
        if embedded and task_id in broker.finished and not result.is_err:
            return  # the task's own session already recorded it, in its transaction
        labels = result.labels
        max_tries = int(labels.get(MAX_TRIES, 1))
        attempt = broker.held.get(task_id, 1) if embedded else int(labels.get(ATTEMPT, 1))
        values: dict[str, Any]
        if not result.is_err:
            values = {"status": "done", "result": dump_result(result.return_value)}
        elif attempt < max_tries:
            delay = backoff_delay(
                attempt, float(labels.get(BACKOFF, 1.0)), float(labels.get(BACKOFF_MAX, 300.0))
            )
            values = {
                "status": "queued",
                "error": describe_error(result.error),
                "run_at": time.time() + delay,
            }
        else:
            values = {"status": "dead", "error": describe_error(result.error)}
        if embedded:
            await broker.finish(task_id, **values)
            return
        if self._upserts is None:
            self._upserts = GroupCommit(self.database, _upsert_statement(self.database))
        now = time.time()
        await self._upserts.add(
            {
                "id": task_id,
                "task": str(labels.get("keel_task", "")),
                "queue": str(labels.get("keel_queue", "default")),
                "status": values["status"],
                "message": _last_try(broker, task_id),
                "run_at": values.get("run_at", now),
                "attempts": attempt,
                "max_tries": max_tries,
                "lease_until": None,
                "worker": None,
                "idempotency_key": None,
                "result": values.get("result"),
                "error": values.get("error"),
                "created_at": now,
                "finished_at": None if values["status"] == "queued" else now,
            }
        )

    async def is_result_ready(self, task_id: str) -> bool:
        """Whether the job finished (done or dead)."""
        info = await read_job(self.database, task_id)
        return info is not None and info.status in ("done", "dead")

    async def get_result(self, task_id: str, with_logs: bool = False) -> TaskiqResult[Any]:
        """The outcome as taskiq sees it (keel's ``Job.result()`` is the friendlier API)."""
        info = await read_job(self.database, task_id)
        if info is None or info.status not in ("done", "dead"):
            raise LookupError(f"job {task_id} has no result yet")
        return TaskiqResult(
            is_err=info.status == "dead",
            return_value=info.result,
            execution_time=0.0,
            error=None,
            log=None,
        )


def _last_try(broker: Any, task_id: str) -> str:
    """The message of a job that failed its last try on a scale broker ("" otherwise)."""
    for middleware in getattr(broker, "middlewares", ()):
        last_tries = getattr(middleware, "last_tries", None)
        if isinstance(last_tries, dict):
            return str(last_tries.pop(task_id, ""))
    return ""


def _upsert_statement(database: Database) -> Any:
    """Insert a job's row, or update its outcome (scale brokers keep no row before)."""
    dialect = postgresql if database.dialect == "postgresql" else sqlite
    insert = dialect.insert(jobs)
    new = insert.excluded
    return insert.on_conflict_do_update(
        index_elements=["id"],
        set_={
            "status": new.status,
            "attempts": new.attempts,
            "max_tries": new.max_tries,
            "run_at": new.run_at,
            "result": new.result,
            "error": new.error,
            "finished_at": new.finished_at,
            "lease_until": None,
            "worker": None,
            "message": func.coalesce(func.nullif(new.message, ""), jobs.c.message),
        },
    )
