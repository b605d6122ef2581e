"""``Tasks``: an app's tasks, its broker (chosen by settings) and its in-process worker."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, Protocol, TypeVar, overload

from taskiq import AsyncBroker, BrokerMessage, Context, TaskiqDepends, TaskiqMessage
from taskiq.labels import prepare_label

from keel.settings import Settings
from keel.tasks._context import JobContext
from keel.tasks.broker import ATTEMPT, IDEMPOTENCY_KEY, MAX_TRIES, DatabaseBroker
from keel.tasks.run import TaskPlan, compile_task, execute
from keel.tasks.task import Task

if TYPE_CHECKING:
    from keel import App
    from keel.db import Database
    from keel.tasks.worker import Worker

__all__ = ["Tasks", "active_tasks", "task", "tasks_of"]

logger = logging.getLogger("keel.tasks")

P = ParamSpec("P")
R = TypeVar("R")


class _Decorator(Protocol):
    """``@task(...)``: an async function's task returns what its coroutine returns."""

    @overload
    def __call__(self, fn: Callable[P, Coroutine[Any, Any, R]], /) -> Task[P, R]: ...

    @overload
    def __call__(self, fn: Callable[P, R], /) -> Task[P, R]: ...


_GLOBAL: dict[str, Task[Any, Any]] = {}
_active: list[Tasks] = []

_EXTENSION = "keel.tasks"


class Tasks:
    """The tasks of one app, the broker they go through, and (in development) a worker.

    ``tasks_of(app)`` makes (once) and returns it; ``@app.task`` does so too. The broker is
    chosen by ``KEEL_TASKS_BROKER`` when the app starts (or at first use): unset, the
    embedded queue table in the app's ``keel.db`` database.

    Args:
        app: the app; its settings, database and dependency overrides are used.
        broker: a taskiq broker to use instead of the one the settings name.
    """

    def __init__(self, app: App | None = None, *, broker: AsyncBroker | None = None) -> None:
        self.app = app
        self.own: dict[str, Task[Any, Any]] = {}
        self._broker = broker
        self._plans: dict[str, TaskPlan] = {}
        self._registered: set[str] = set()
        self._started = False
        self.worker: Worker | None = None
        """The in-process worker, while one runs (``keel run``)."""
        self.runs_worker = False
        """Set by ``keel worker`` before the app starts: this process runs jobs."""
        if app is not None:
            app.extensions[_EXTENSION] = self
            app.on_startup(self.startup)
            # first at shutdown: the worker finishes its jobs while the database is still there
            app.shutdown_handlers.insert(0, self.shutdown)

    def __repr__(self) -> str:
        return f"<Tasks {len(self.all())} task(s), broker={self.broker_kind}>"

    # -- configuration ------------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        """The app's settings (or settings read from the environment, without an app)."""
        settings = getattr(self.app, "settings", None)
        if not isinstance(settings, Settings):
            settings = Settings()
        return settings

    @property
    def database(self) -> Database | None:
        """The app's ``keel.db`` database, where jobs and results are kept, if it has one."""
        from keel.db import Database

        database = getattr(getattr(self.app, "state", None), "database", None)
        return database if isinstance(database, Database) else None

    @property
    def broker_kind(self) -> str:
        """``database`` (embedded), ``redis``, ``amqp``, ``nats`` or ``custom``."""
        if self._broker is not None and not isinstance(self._broker, DatabaseBroker):
            return getattr(self._broker, "keel_kind", "custom")
        url = self.settings.tasks_broker
        if not url or url == "database":
            return "database"
        return url.partition("://")[0].split("+")[0]

    @property
    def broker_delays(self) -> bool:
        """Whether the broker can hold a job until a time (``enqueue_in``/``enqueue_at``)."""
        return self.broker_kind in ("database", "amqp")

    @property
    def broker(self) -> AsyncBroker:
        """The taskiq broker (made from the settings at first use)."""
        if self._broker is None:
            from keel.tasks.brokers import make_broker

            self._broker = make_broker(self)
        self._register()
        return self._broker

    # -- tasks --------------------------------------------------------------------------------

    @overload
    def task(self, fn: Callable[P, Coroutine[Any, Any, R]], /) -> Task[P, R]: ...

    @overload
    def task(self, fn: Callable[P, R], /) -> Task[P, R]: ...

    @overload
    def task(
        self,
        fn: None = None,
        /,
        *,
        name: str | None = None,
        retries: int | None = None,
        timeout: float | None = None,
        schedule: str | None = None,
    ) -> _Decorator: ...

    def task(
        self,
        fn: Callable[..., Any] | None = None,
        /,
        *,
        name: str | None = None,
        retries: int | None = None,
        timeout: float | None = None,
        schedule: str | None = None,
    ) -> Any:
        """Decorator: make ``fn`` (async or sync) a task of this app. See :func:`task`."""

        def decorate(fn: Callable[..., Any]) -> Task[Any, Any]:
            made: Task[Any, Any] = Task(
                fn, name=name, retries=retries, timeout=timeout, schedule=schedule, owner=self
            )
            _check_unique(made, self.all())
            self.own[made.name] = made
            return made

        return decorate if fn is None else decorate(fn)

    def all(self) -> dict[str, Task[Any, Any]]:
        """Every task this app runs: its own and those declared with the module-level
        ``@task``."""
        return {**_GLOBAL, **self.own}

    def find(self, name: str) -> Task[Any, Any] | None:
        """The task of that name."""
        return self.own.get(name) or _GLOBAL.get(name)

    def plan_for(self, task: Task[Any, Any]) -> TaskPlan:
        """The compiled dependency plan of ``task`` (recompiled when overrides change)."""
        overrides = getattr(self.app, "dependency_overrides", {})
        version = getattr(overrides, "version", 0)
        plan = self._plans.get(task.name)
        if plan is None or plan.version != version:
            plan = self._plans[task.name] = compile_task(task, overrides, version)
        return plan

    def _register(self) -> None:
        assert self._broker is not None
        for name, task in self.all().items():
            if name not in self._registered:
                self._broker.register_task(_runner(self, task), task_name=name)
                self._registered.add(name)

    def format_message(
        self, task_id: str, name: str, payload: dict[str, Any], labels: dict[str, Any]
    ) -> BrokerMessage:
        """The broker message for one call (taskiq's message format)."""
        prepared: dict[str, Any] = {}
        types: dict[str, int] = {}
        for key, value in labels.items():
            prepared[key], types[key] = prepare_label(value)
        message = TaskiqMessage(
            task_id=task_id,
            task_name=name,
            labels=prepared,
            labels_types=types,
            args=[],
            kwargs=payload,
        )
        return self.broker.formatter.dumps(message)

    # -- lifecycle ----------------------------------------------------------------------------

    async def startup(self) -> None:
        """Start the broker (the app's startup does it) and, if configured, a worker."""
        if self._started:
            return
        self._started = True
        _active.append(self)
        for task in self.all().values():
            self.plan_for(task)  # a signature a task cannot have fails here, not in a worker
        in_process = self._in_process()
        # a worker's broker starts in worker mode (RabbitMQ opens its reading channel then)
        self.broker.is_worker_process = self.runs_worker or in_process
        await self.broker.startup()
        if in_process:
            from keel.tasks.worker import Worker

            self.worker = Worker(self)
            await self.worker.start()

    async def shutdown(self) -> None:
        """Stop the in-process worker (finishing or giving back its jobs) and the broker."""
        if not self._started:
            return
        self._started = False
        if self in _active:
            _active.remove(self)
        if self.worker is not None:
            worker, self.worker = self.worker, None
            await worker.stop()
        if self._broker is not None:
            await self._broker.shutdown()

    async def __aenter__(self) -> Tasks:
        await self.startup()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.shutdown()

    def _in_process(self) -> bool:
        return bool(self.settings.tasks_worker_in_process)  # keel run sets it


def _runner(tasks: Tasks, task: Task[Any, Any]) -> Callable[..., Any]:
    """The function taskiq calls for ``task``: keel's DI around the task."""

    async def run(context: Annotated[Context, TaskiqDepends()], **payload: Any) -> Any:
        message = context.message
        labels = message.labels
        broker = tasks.broker
        if isinstance(broker, DatabaseBroker):
            attempt = broker.held.get(message.task_id, 1)
        else:
            attempt = int(labels.get(ATTEMPT, 1))
        key = labels.get(IDEMPOTENCY_KEY)
        job = JobContext(
            id=message.task_id,
            task=task.name,
            attempt=attempt,
            max_tries=int(labels.get(MAX_TRIES, 1)),
            idempotency_key=str(key) if key is not None else None,
            labels=labels,
            tasks=tasks,
        )
        return await execute(tasks, task, job, payload)

    run.__name__ = run.__qualname__ = f"keel_task_{task.__name__}"
    return run


def _check_unique(made: Task[Any, Any], existing: dict[str, Task[Any, Any]]) -> None:
    other = existing.get(made.name)
    if other is not None and other.fn is not made.fn:
        raise ValueError(f"two tasks are named {made.name!r}: pass name= to one of them")


def tasks_of(app: App) -> Tasks:
    """The app's :class:`Tasks` (made and attached on first call)."""
    found = app.extensions.get(_EXTENSION)
    if isinstance(found, Tasks):
        return found
    return Tasks(app)


def active_tasks() -> Tasks:
    """The ``Tasks`` of the app that started last (for tasks declared with ``@task``)."""
    if not _active:
        raise RuntimeError(
            "no app with keel.tasks has started: call keel.tasks.tasks_of(app) before the "
            "app starts (or use @app.task), and enqueue while it runs"
        )
    return _active[-1]


@overload
def task(fn: Callable[P, Coroutine[Any, Any, R]], /) -> Task[P, R]: ...


@overload
def task(fn: Callable[P, R], /) -> Task[P, R]: ...


@overload
def task(
    fn: None = None,
    /,
    *,
    name: str | None = None,
    retries: int | None = None,
    timeout: float | None = None,
    schedule: str | None = None,
) -> _Decorator: ...


def task(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    retries: int | None = None,
    timeout: float | None = None,
    schedule: str | None = None,
) -> Any:
    """Decorator: a task not tied to one app (it runs on the app that starts).

    Args:
        fn: an async or sync function; its arguments must be JSON-able (pydantic models,
            dates and UUIDs are); ``Depends`` parameters are resolved in the worker.
        name: the task's name in the queue (default ``module:qualname``).
        retries: tries after the first failed one (``KEEL_TASKS_RETRIES``, default 3),
            with exponential backoff; then the job goes to the dead letters.
        timeout: seconds one try may take; past it the try fails (and is retried).
        schedule: a cron expression (``"*/5 * * * *"``, UTC): workers enqueue the task
            (without arguments) at those times.
    """

    def decorate(fn: Callable[..., Any]) -> Task[Any, Any]:
        made: Task[Any, Any] = Task(
            fn, name=name, retries=retries, timeout=timeout, schedule=schedule
        )
        _check_unique(made, _GLOBAL)
        _GLOBAL[made.name] = made
        return made

    return decorate if fn is None else decorate(fn)
