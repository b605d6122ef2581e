"""Running blocking code from async code: ``run_in_threadpool`` and friends.

keel runs sync handlers and dependencies in its thread pool already; these helpers are for
blocking calls inside an ``async def`` (FastAPI/Starlette spelling)::

    from keel.concurrency import run_in_threadpool

    data = await run_in_threadpool(read_big_file, path)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from keel._concurrency import iterate_in_threadpool, run_sync

__all__ = ["iterate_in_threadpool", "run_in_threadpool", "run_sync"]

T = TypeVar("T")


async def run_in_threadpool(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call blocking ``fn(*args, **kwargs)`` in keel's thread pool and await its result.

    Context variables are carried into the thread.
    """
    return await run_sync(fn, *args, **kwargs)
