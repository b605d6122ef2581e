"""The body-read deadline: one watchdog per event loop cancels reads that overrun it.

Cheaper than a timeout context per read: watching a read costs two dict operations, and the
watchdog ticks (at most a few times a second) only while reads are in flight. A cancelled
read finds :data:`TIMED_OUT` in its ``_watch`` slot and answers 408.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import asyncio

__all__ = ["TIMED_OUT", "Watchdog", "watchdog"]


class _TimedOut:
    """Marks a reader whose body read the watchdog cancelled."""


TIMED_OUT: Any = _TimedOut()


class _Watched(Protocol):
    _watch: Any


class Watchdog:
    """Cancels the tasks of body reads that overrun their deadline, on one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.reads: dict[int, tuple[asyncio.Task[Any], float, _Watched]] = {}
        self.handle: asyncio.TimerHandle | None = None

    def watch(self, reader: _Watched, timeout: float) -> Watchdog:
        """Give the current task's read of ``reader`` ``timeout`` seconds."""
        task = _asyncio().current_task()
        if task is not None:
            deadline = self.loop.time() + timeout
            self.reads[id(reader)] = (task, deadline, reader)
            if self.handle is None:
                self.handle = self.loop.call_later(min(1.0, timeout), self._tick, timeout)
        return self

    def unwatch(self, reader: _Watched) -> None:
        """The read of ``reader`` is over."""
        self.reads.pop(id(reader), None)

    def _tick(self, timeout: float) -> None:
        now = self.loop.time()
        for key, (task, deadline, reader) in list(self.reads.items()):
            if now >= deadline:
                del self.reads[key]
                reader._watch = TIMED_OUT
                task.cancel()
        self.handle = (
            self.loop.call_later(min(1.0, timeout / 4), self._tick, timeout) if self.reads else None
        )


_watchdogs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Watchdog] = (
    weakref.WeakKeyDictionary()
)
_last: Watchdog | None = None


def watchdog() -> Watchdog:
    """The running event loop's watchdog."""
    global _last
    loop = _asyncio().get_running_loop()
    last = _last
    if last is not None and last.loop is loop:
        return last
    found = _watchdogs.get(loop)
    if found is None:
        found = _watchdogs[loop] = Watchdog(loop)
    _last = found
    return found


def _asyncio() -> Any:
    """asyncio, imported on first use: it is loaded whenever a loop runs, and importing it
    with keel would cost ``import keel`` ~20 ms."""
    import asyncio

    return asyncio
