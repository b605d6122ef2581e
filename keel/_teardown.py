"""Generator dependencies: entering them at ``yield`` and finishing them like nested ``with``.

Function-scoped generators finish before the response is sent; request-scoped ones after it,
where a failure can only be logged.
"""

from __future__ import annotations

import logging
from typing import Any

from keel._concurrency import run_sync

__all__ = ["Exits", "close_request_scope", "enter", "unwind"]

logger = logging.getLogger("keel.error")

Exits = list[tuple[Any, bool]]
"""Open generators, innermost last: ``(generator, is_async)``."""

_STOP: Any = object()


def _sync_next(gen: Any) -> Any:
    try:
        return next(gen)
    except StopIteration:
        return _STOP


def _sync_throw(gen: Any, exc: BaseException) -> Any:
    try:
        return gen.throw(exc)
    except StopIteration:
        return _STOP


async def enter(call: Any, kwargs: dict[str, Any], is_async: bool, exits: Exits) -> Any:
    """Run a generator dependency up to its ``yield``; return the value and record the exit."""
    if is_async:
        agen = call(**kwargs)
        try:
            value = await agen.__anext__()
        except StopAsyncIteration:
            raise RuntimeError(f"Dependency {call!r} did not yield") from None
        exits.append((agen, True))
        return value
    gen = await run_sync(call, **kwargs)
    value = await run_sync(_sync_next, gen)
    if value is _STOP:
        raise RuntimeError(f"Dependency {call!r} did not yield")
    exits.append((gen, False))
    return value


async def unwind(exits: Exits, exc: BaseException | None) -> BaseException | None:
    """Finish generator dependencies in reverse order, like nested ``with`` blocks.

    ``exc`` is thrown in at ``yield``; a generator may swallow it (then ``None`` goes on
    outward) or raise another. Returns the exception still propagating, if any.
    """
    while exits:
        gen, is_async = exits.pop()
        try:
            if exc is None:
                if is_async:
                    try:
                        await gen.__anext__()
                    except StopAsyncIteration:
                        continue
                elif await run_sync(_sync_next, gen) is _STOP:
                    continue
                raise RuntimeError(f"Dependency generator {gen!r} yielded more than once")
            if is_async:
                try:
                    await gen.athrow(exc)
                except StopAsyncIteration:
                    exc = None
                    continue
            elif await run_sync(_sync_throw, gen, exc) is _STOP:
                exc = None
                continue
            raise RuntimeError(f"Dependency generator {gen!r} yielded more than once")
        except BaseException as raised:
            if raised is not exc and exc is not None and raised.__context__ is None:
                raised.__context__ = exc
            exc = raised
    return exc


async def close_request_scope(exits: Exits, error: Exception | None) -> None:
    """Run request-scoped teardown after the response was sent; log what goes wrong there."""
    if not exits:
        return
    try:
        failed = await unwind(exits, error)
    except BaseException:  # pragma: no cover - unwind returns rather than raises
        logger.exception("Error in dependency teardown after the response was sent")
        return
    if failed is not None and failed is not error:
        logger.error("Error in dependency teardown after the response was sent", exc_info=failed)
