"""Running one job: keel's dependency injection around the task function.

A task's signature is compiled once (as a route's is) with ``keel._analysis``: the task's
own arguments come from the message, ``Depends`` parameters from the same dependency graph
as HTTP handlers (``app.dependency_overrides`` included). Two dependencies change meaning
in a task: ``keel.db``'s ``Session`` is a session for this job (committed when the task
returns, together with the job's completion when the embedded broker holds the job), and
``get_settings`` gives the app's settings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from keel._analysis import CONSTANT, DEP, FIELD, Plan, compile_plan
from keel._concurrency import run_sync
from keel._teardown import Exits, enter, unwind
from keel.db.session import database_of, get_session, using_session
from keel.settings import Settings, get_settings
from keel.tasks._context import NO_RESULT, JobContext, _job, current_job
from keel.tasks.broker import DatabaseBroker, LeaseLost
from keel.tasks.results import dump_result

if TYPE_CHECKING:
    from keel.tasks.registry import Tasks
    from keel.tasks.task import Task

__all__ = [
    "TASK_OVERRIDES",
    "TaskPlan",
    "compile_task",
    "execute",
    "task_session",
    "task_settings",
]


async def task_session() -> AsyncIterator[AsyncSession]:
    """``Session`` inside a task: one session per job, committed after the task returned.

    With the embedded broker on the same database, the job is marked done in this same
    transaction: the task's writes and its completion commit together, so a worker that
    dies mid-job leaves neither, and the re-run applies them once.
    """
    job = current_job()
    database = database_of(job.tasks.app)
    async with database.sessionmaker() as session:
        job.session = session
        try:
            with using_session(session):
                yield session
        except BaseException:
            await session.rollback()
            raise
        broker = job.tasks.broker
        result = job.result
        if (
            isinstance(broker, DatabaseBroker)
            and broker.database is database
            and job.id in broker.held
            and result is not NO_RESULT
        ):
            outcome = await session.execute(
                broker.finish_statement(job.id, status="done", result=dump_result(result))
            )
            if getattr(outcome, "rowcount", 1) != 1:
                await session.rollback()
                raise LeaseLost(
                    f"job {job.id}: its lease passed and another worker took it over; "
                    "this run's writes were rolled back"
                )
            await session.commit()
            broker.finished.add(job.id)
            return
        await session.commit()


def task_settings() -> Settings:
    """``get_settings`` inside a task: the app's settings."""
    app = current_job().tasks.app
    settings = getattr(app, "settings", None)
    return settings if isinstance(settings, Settings) else Settings()


TASK_OVERRIDES: dict[Any, Any] = {get_session: task_session, get_settings: task_settings}


@dataclasses.dataclass(eq=False)
class TaskPlan:
    """A task's compiled dependency graph and where each plain argument comes from."""

    plan: Plan
    names: dict[str, str]
    defaults: dict[str, Any]
    version: int


def compile_task(task: Task[Any, Any], overrides: Any, version: int) -> TaskPlan:
    """Compile ``task``'s signature and dependencies once (startup, or overrides changed)."""
    plan = compile_plan(task.fn, {}, {**dict(overrides), **TASK_OVERRIDES})
    arguments = task.arguments.model_fields
    defaults: dict[str, Any] = {}
    for field in plan.fields:
        if field.name in arguments:
            continue
        if field.required:
            raise TypeError(
                f"{task.name}: a dependency takes {field.name!r}, which is not an argument "
                "of the task; give it a default or make it an argument of the task"
            )
        defaults[field.name] = field.default
    for step in plan.steps:
        for arg in step.args:
            if arg.source not in (FIELD, DEP, CONSTANT):
                what = getattr(step.original, "__qualname__", repr(step.original))
                raise TypeError(
                    f"{task.name}: {what} takes {arg.name!r} (a request, response or "
                    "websocket), which a task does not have"
                )
    names = {field.key: field.name for field in plan.fields}
    return TaskPlan(plan, names, defaults, version)


async def execute(
    tasks: Tasks, task: Task[Any, Any], job: JobContext, payload: dict[str, Any]
) -> Any:
    """Run one try of a job: validate its arguments, resolve dependencies, call the task."""
    compiled = tasks.plan_for(task)
    values = dict(compiled.defaults)
    model = task.arguments.model_validate(payload)
    values.update({name: getattr(model, name) for name in type(model).model_fields})
    token = _job.set(job)
    exits: Exits = []
    error: BaseException | None = None
    result: Any = None
    try:
        try:
            steps = compiled.plan.steps
            results: list[Any] = [None] * len(steps)
            for step in steps:
                kwargs: dict[str, Any] = {}
                for arg in step.args:
                    if arg.source == FIELD:
                        kwargs[arg.name] = values[compiled.names[arg.ref]]
                    elif arg.source == DEP:
                        kwargs[arg.name] = results[arg.ref]
                    else:
                        kwargs[arg.name] = arg.ref
                if step.kind == "async":
                    result = await step.call(**kwargs)
                elif step.kind == "sync":
                    result = await run_sync(step.call, **kwargs)
                else:
                    result = await enter(step.call, kwargs, step.kind == "agen", exits)
                results[step.index] = result
            job.result = result
        except BaseException as exc:
            error = exc
        error = await unwind(exits, error)
        if error is not None:
            raise error
        return result
    finally:
        _job.reset(token)
