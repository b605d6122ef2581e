"""keel.tasks: durable background jobs, in the app's own database by default.

Example:
    from keel.tasks import tasks_of

    @app.task(retries=5)
    async def send_welcome(user_id: int, session: Session) -> None: ...

    job = await send_welcome.enqueue(user_id=7)   # inside a request: same transaction

Workers run with ``keel worker module:app``; ``keel run`` starts one in-process.
"""

from __future__ import annotations

from keel.tasks._context import JobContext, current_job
from keel.tasks.broker import DatabaseBroker, LeaseLost
from keel.tasks.registry import Tasks, task, tasks_of
from keel.tasks.results import DatabaseResultBackend, JobInfo, JobStatus
from keel.tasks.task import Job, JobFailed, Task, TaskError
from keel.tasks.worker import Worker

__all__ = [
    "DatabaseBroker",
    "DatabaseResultBackend",
    "Job",
    "JobContext",
    "JobFailed",
    "JobInfo",
    "JobStatus",
    "LeaseLost",
    "Task",
    "TaskError",
    "Tasks",
    "Worker",
    "current_job",
    "task",
    "tasks_of",
]
