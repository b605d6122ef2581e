"""Work that runs after the response has been sent."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from keel._concurrency import run_sync

__all__ = ["BackgroundTask", "BackgroundTasks"]


class BackgroundTask:
    """One callable (async or sync) to run after the response is sent."""

    __slots__ = ("func", "args", "kwargs", "is_async")

    def __init__(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.func = func
        self.args = args
        self.kwargs = kwargs
        self.is_async = inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
            getattr(func, "__call__", None)  # noqa: B004
        )

    async def __call__(self) -> None:
        """Run the task (sync callables run in the thread pool)."""
        if self.is_async:
            await self.func(*self.args, **self.kwargs)
        else:
            await run_sync(self.func, *self.args, **self.kwargs)


class BackgroundTasks(BackgroundTask):
    """An ordered list of tasks; declare a ``BackgroundTasks`` parameter to get one.

    Tasks run one after another once the response has been sent.
    """

    __slots__ = ("tasks",)

    def __init__(self, tasks: list[BackgroundTask] | None = None) -> None:
        self.tasks: list[BackgroundTask] = list(tasks or [])

    def add_task(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Queue ``func(*args, **kwargs)`` to run after the response."""
        self.tasks.append(BackgroundTask(func, *args, **kwargs))

    async def __call__(self) -> None:
        """Run every queued task in order."""
        for task in self.tasks:
            await task()
