"""Running blocking code off the event loop."""

from __future__ import annotations

import contextvars
import functools
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

T = TypeVar("T")

_executor: ThreadPoolExecutor | None = None
THREADS = 40


def _get_executor() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        from concurrent.futures import ThreadPoolExecutor

        _executor = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="keel-sync")
    return _executor


async def run_sync(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call blocking ``fn(*args, **kwargs)`` in keel's thread pool and await its result.

    Use it for blocking work inside an ``async def`` (password hashing, a blocking client
    library, file I/O) so the event loop keeps serving other requests; context variables
    are carried into the thread::

        from keel import run_sync

        digest = await run_sync(hashlib.scrypt, password, salt=salt, n=2**14, r=8, p=1)
    """
    import asyncio

    loop = asyncio.get_running_loop()
    ctx = contextvars.copy_context()
    call = functools.partial(ctx.run, fn, *args, **kwargs)
    return await loop.run_in_executor(_get_executor(), call)


_DONE = object()


def _next(it: Iterator[T]) -> Any:
    try:
        return next(it)
    except StopIteration:
        return _DONE


async def iterate_in_threadpool(iterable: Iterable[T]) -> AsyncIterator[T]:
    """Iterate a blocking iterable without blocking the event loop."""
    it = iter(iterable)
    while True:
        item = await run_sync(_next, it)
        if item is _DONE:
            return
        yield item
