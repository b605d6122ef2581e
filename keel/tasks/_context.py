"""What the running job is: a context variable set around each job's execution."""

from __future__ import annotations

import dataclasses
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from keel.db.session import current_session

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from keel.tasks.registry import Tasks

__all__ = ["NO_RESULT", "JobContext", "current_db_session", "current_job"]

NO_RESULT: Any = object()
"""``JobContext.result`` before the task returned."""


@dataclasses.dataclass(eq=False)
class JobContext:
    """The job being run: declare ``job: Annotated[JobContext, Depends(current_job)]``.

    Attributes:
        id: the job id (the taskiq task id).
        task: the task name.
        attempt: 1 for the first try, 2 for the first retry, ...
        max_tries: the tries allowed before the job goes to the dead letters.
        idempotency_key: the key given to ``enqueue``, if any.
        labels: the taskiq labels of the message.
    """

    id: str
    task: str
    attempt: int
    max_tries: int
    idempotency_key: str | None
    labels: dict[str, Any]
    tasks: Tasks = dataclasses.field(repr=False)
    session: AsyncSession | None = dataclasses.field(default=None, repr=False)
    result: Any = dataclasses.field(default=NO_RESULT, repr=False)


_job: ContextVar[JobContext | None] = ContextVar("keel_tasks_job", default=None)


def current_job() -> JobContext:
    """Dependency: the job being run (outside a job: a ``RuntimeError``)."""
    job = _job.get()
    if job is None:
        raise RuntimeError("current_job() is only available while a keel task runs")
    return job


def current_db_session() -> AsyncSession | None:
    """The keel.db session of the request or task being handled, if any."""
    return current_session()
