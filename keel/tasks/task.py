"""``Task``: a function that runs in a worker, and ``Job``: one enqueued call of it."""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, get_type_hints

from pydantic import BaseModel, ConfigDict, TypeAdapter, create_model
from taskiq import BrokerMessage

from keel._analysis import split_annotated
from keel.di import Depends
from keel.tasks.broker import (
    ATTEMPT,
    BACKOFF,
    BACKOFF_MAX,
    IDEMPOTENCY_KEY,
    MAX_TRIES,
    RUN_AT,
    DatabaseBroker,
)
from keel.tasks.results import JobInfo, JobStatus, read_job

if TYPE_CHECKING:
    from keel.tasks.registry import Tasks

__all__ = ["Job", "JobFailed", "Task", "TaskError"]

P = ParamSpec("P")
R = TypeVar("R")

_KEY_NAMESPACE = uuid.UUID("6f1c1a57-0c55-4a53-9f3e-6b2f3f1f4b11")
_RESERVED = ("idempotency_key",)


class TaskError(RuntimeError):
    """A task cannot be enqueued this way (bad arguments, or the broker cannot do it)."""


class JobFailed(RuntimeError):
    """The job failed its last try and is in the dead letters (``info`` has the error)."""

    def __init__(self, info: JobInfo) -> None:
        super().__init__(
            f"job {info.id} ({info.task}) failed after {info.attempts} tries:\n{info.error}"
        )
        self.info = info


class Task(Generic[P, R]):
    """A function that runs in a worker; calling it directly still runs it here and now.

    Made by ``@app.task`` or ``@task``; see those for the options.
    """

    def __init__(
        self,
        fn: Callable[P, Any],
        *,
        name: str | None = None,
        retries: int | None = None,
        timeout: float | None = None,
        schedule: str | None = None,
        owner: Tasks | None = None,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"@task needs a function, got {fn!r}")
        if retries is not None and retries < 0:
            raise ValueError("retries= must be 0 or more")
        if timeout is not None and timeout <= 0:
            raise ValueError("timeout= must be a positive number of seconds")
        self.fn = fn
        self.name = name or f"{fn.__module__}:{fn.__qualname__}"
        self.retries = retries
        self.timeout = timeout
        self.schedule = schedule
        self.owner = owner
        if schedule is not None:
            from croniter import croniter

            if not croniter.is_valid(schedule):
                raise ValueError(f"{self.name}: schedule={schedule!r} is not a cron expression")
        self.arguments, self.positional = _argument_model(fn, self.name)
        self._returns: TypeAdapter[Any] | None = _return_adapter(fn)
        self.__doc__ = fn.__doc__
        self.__name__ = getattr(fn, "__name__", self.name)
        self.__wrapped__ = fn

    def __repr__(self) -> str:
        return f"<Task {self.name}>"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Any:
        """Run the function directly, in this process (no queue, no dependencies)."""
        return self.fn(*args, **kwargs)

    @property
    def tasks(self) -> Tasks:
        """The ``Tasks`` this task is enqueued through (its app's, or the running one)."""
        if self.owner is not None:
            return self.owner
        from keel.tasks.registry import active_tasks

        return active_tasks()

    # -- enqueueing ---------------------------------------------------------------------------

    async def enqueue(
        self, *args: Any, idempotency_key: str | None = None, **kwargs: Any
    ) -> Job[R]:
        """Queue one call; returns its :class:`Job` at once.

        Inside a request (or a task) that uses ``keel.db``'s ``Session``, the embedded broker
        writes the job in that session's transaction: if it rolls back, nothing was queued.
        ``idempotency_key=``: a second enqueue with the same key (for this task) returns
        the first job instead of queueing another (embedded broker).
        """
        return (await self._send([(args, kwargs)], idempotency_key=idempotency_key))[0]

    async def enqueue_in(
        self,
        delay: float | dt.timedelta,
        *args: Any,
        idempotency_key: str | None = None,
        **kwargs: Any,
    ) -> Job[R]:
        """Queue one call to run ``delay`` (seconds or a ``timedelta``) from now."""
        seconds = delay.total_seconds() if isinstance(delay, dt.timedelta) else float(delay)
        return (
            await self._send(
                [(args, kwargs)], idempotency_key=idempotency_key, run_at=time.time() + seconds
            )
        )[0]

    async def enqueue_at(
        self,
        when: dt.datetime,
        *args: Any,
        idempotency_key: str | None = None,
        **kwargs: Any,
    ) -> Job[R]:
        """Queue one call to run at ``when`` (an aware datetime; naive means UTC)."""
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        return (
            await self._send(
                [(args, kwargs)], idempotency_key=idempotency_key, run_at=when.timestamp()
            )
        )[0]

    async def enqueue_many(
        self, calls: Iterable[Mapping[str, Any] | tuple[Any, ...]]
    ) -> list[Job[R]]:
        """Queue many calls in one round trip: each item is the keyword arguments of one
        call (a mapping) or its positional arguments (a tuple)."""
        prepared: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        for call in calls:
            if isinstance(call, Mapping):
                prepared.append(((), dict(call)))
            elif isinstance(call, tuple):
                prepared.append((call, {}))
            else:
                raise TypeError("enqueue_many() takes mappings (keyword arguments) or tuples")
        return await self._send(prepared)

    async def _send(
        self,
        calls: list[tuple[tuple[Any, ...], dict[str, Any]]],
        *,
        idempotency_key: str | None = None,
        run_at: float | None = None,
    ) -> list[Job[R]]:
        tasks = self.tasks
        broker = tasks.broker
        messages = [
            self.message(args, kwargs, tasks, idempotency_key=idempotency_key, run_at=run_at)
            for args, kwargs in calls
        ]
        if run_at is not None and not tasks.broker_delays:
            raise TaskError(
                f"{self.name}: delayed jobs need the embedded broker or RabbitMQ; "
                f"the {tasks.broker_kind} broker runs jobs as soon as they arrive"
            )
        if isinstance(broker, DatabaseBroker):
            await broker.kick_many(messages)
        else:
            for message in messages:
                await broker.kick(message)
        return [Job(message.task_id, self, tasks) for message in messages]

    def message(
        self,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        tasks: Tasks,
        *,
        idempotency_key: str | None = None,
        run_at: float | None = None,
    ) -> BrokerMessage:
        """The taskiq message of one call (arguments checked and converted to JSON data)."""
        payload = self.payload(args, kwargs)
        settings = tasks.settings
        retries = settings.tasks_retries if self.retries is None else self.retries
        labels: dict[str, Any] = {
            MAX_TRIES: retries + 1,
            ATTEMPT: 1,
            BACKOFF: settings.tasks_backoff,
            BACKOFF_MAX: settings.tasks_backoff_max,
            "keel_task": self.name,
            "keel_queue": settings.tasks_queue,
        }
        if self.timeout is not None:
            labels["timeout"] = self.timeout
        if run_at is not None:
            labels[RUN_AT] = run_at
            delay = run_at - time.time()
            if delay > 0:
                labels["delay"] = delay  # taskiq's label (RabbitMQ's delay queue)
        if idempotency_key is not None:
            labels[IDEMPOTENCY_KEY] = idempotency_key
            task_id = uuid.uuid5(_KEY_NAMESPACE, f"{self.name}\0{idempotency_key}").hex
        else:
            task_id = uuid.uuid4().hex
        return tasks.format_message(task_id, self.name, payload, labels)

    def payload(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """Bind and validate the arguments of one call: JSON-ready keyword arguments."""
        if len(args) > len(self.positional):
            raise TaskError(
                f"{self.name} takes {len(self.positional)} argument(s), {len(args)} given"
            )
        values = dict(kwargs)
        for name, value in zip(self.positional, args, strict=False):
            if name in values:
                raise TaskError(f"{self.name}: argument {name!r} given twice")
            values[name] = value
        try:
            model = self.arguments.model_validate(values)
        except Exception as exc:
            raise TaskError(f"{self.name}: bad arguments: {exc}") from exc
        return model.model_dump(mode="json")

    def result_value(self, data: Any) -> Any:
        """A stored result (JSON data) as the return annotation's type."""
        if self._returns is None:
            return data
        return self._returns.validate_python(data)


class Job(Generic[R]):
    """One enqueued call: its id, status and (once done) result."""

    __slots__ = ("id", "task", "tasks")

    def __init__(self, job_id: str, task: Task[Any, R], tasks: Tasks) -> None:
        self.id = job_id
        self.task = task
        self.tasks = tasks

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.task.name}>"

    async def info(self) -> JobInfo | None:
        """The job's row (status, tries, error, result), or ``None`` when unknown."""
        database = self.tasks.database
        if database is None:
            return None
        return await read_job(database, self.id)

    async def status(self) -> JobStatus:
        """``queued``, ``running``, ``done``, ``dead`` or ``unknown``."""
        info = await self.info()
        return "unknown" if info is None else info.status

    async def result(self, timeout: float = 30.0, poll: float = 0.02) -> R:
        """Wait for the job to finish and return its value.

        Raises:
            JobFailed: it failed its last try (it is in the dead letters).
            TimeoutError: it did not finish within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            info = await self.info()
            if info is not None and info.status == "done":
                value: R = self.task.result_value(info.result)
                return value
            if info is not None and info.status == "dead":
                raise JobFailed(info)
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{self!r} did not finish within {timeout} s")
            await asyncio.sleep(poll)


def _is_dependency(annotation: Any, default: Any) -> bool:
    if isinstance(default, Depends):
        return True
    _, meta = split_annotated(annotation)
    return any(isinstance(m, Depends) for m in meta)


def _argument_model(fn: Callable[..., Any], name: str) -> tuple[type[BaseModel], list[str]]:
    """The pydantic model of a task's own arguments (its dependencies left out)."""
    signature = inspect.signature(fn)
    try:
        hints = get_type_hints(fn, include_extras=True)
    except NameError as exc:
        raise TypeError(f"{name}: cannot resolve its annotations ({exc})") from exc
    fields: dict[str, Any] = {}
    positional: list[str] = []
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"{name}: a task takes named arguments, not *{param.name}")
        annotation = hints.get(param.name, Any)
        if _is_dependency(annotation, param.default):
            continue
        if param.name in _RESERVED:
            raise TypeError(f"{name}: {param.name!r} is reserved by enqueue(); rename it")
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (annotation, default)
        if param.kind is not param.KEYWORD_ONLY:
            positional.append(param.name)
    model = create_model(
        f"{getattr(fn, '__name__', 'task')}_arguments",
        __config__=ConfigDict(extra="forbid", arbitrary_types_allowed=False),
        **fields,
    )
    return model, positional


def _return_adapter(fn: Callable[..., Any]) -> TypeAdapter[Any] | None:
    try:
        annotation = get_type_hints(fn).get("return")
    except NameError:
        return None
    if annotation is None or annotation is type(None):
        return None
    return TypeAdapter(annotation)
