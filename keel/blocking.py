"""The blocking-call detector: report code that holds the event loop (development only).

An ``async def`` handler that calls ``time.sleep``, reads a file, runs a synchronous
database driver or loops over a big computation stops every other request of the process
while it runs. Load tests find it; this finds it on the first request.

A timer on the event loop beats every ``threshold / 4`` seconds. A watcher thread checks the
beat; when it is late by more than ``threshold`` (100 ms by default) the loop is blocked, and
the watcher takes the stack of the loop's thread at that moment. When the loop runs again
it logs one warning on the ``keel.blocking`` logger: how long the loop was blocked, the
route whose handler was running, and the stack from the handler down to the blocking line::

    The event loop was blocked for 0.30 s in GET /report (app.report)
      File "app.py", line 14, in report
        time.sleep(0.3)

``keel run`` turns it on (``KEEL_DETECT_BLOCKING=1``; ``--no-detect-blocking`` or
``KEEL_DETECT_BLOCKING=0`` turns it off); it never runs in production (``debug=False``).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import sys
import threading
import time
import traceback
from types import CodeType, FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from keel.app import App

__all__ = ["BlockingDetector", "Report"]

logger = logging.getLogger("keel.blocking")

_STILL_BLOCKED = 5.0  # seconds: a loop blocked this long is reported before it resumes
_INTERNAL = (f"{__name__.replace('.', '/')}.py", "/asyncio/", "/uvicorn/", "/keel/_endpoint.py")


class Report:
    """One blocked stretch of the event loop.

    Attributes:
        seconds: How long the loop was blocked (at least the threshold).
        route: ``"GET /path"`` of the handler that was running, or ``None``.
        handler: The handler's qualified name, or ``None``.
        stack: The loop thread's stack when the block was seen, outermost first.
    """

    __slots__ = ("handler", "route", "seconds", "stack")

    def __init__(
        self,
        seconds: float,
        route: str | None,
        handler: str | None,
        stack: traceback.StackSummary,
    ) -> None:
        self.seconds = seconds
        self.route = route
        self.handler = handler
        self.stack = stack

    def __str__(self) -> str:
        where = f" in {self.route} ({self.handler})" if self.route else ""
        lines = [f"The event loop was blocked for {self.seconds:.2f} s{where}"]
        lines += [line.rstrip("\n") for line in self.stack.format()]
        return "\n".join(lines)


class BlockingDetector:
    """Watches one event loop from a thread; reports each time it is blocked too long.

    Args:
        threshold: Seconds the loop may go without running before it counts as blocked.
        app: The app whose route handlers name the reports (optional).
    """

    def __init__(self, threshold: float = 0.1, *, app: App | None = None) -> None:
        if not threshold > 0:
            raise ValueError(f"the blocking threshold must be positive, got {threshold}")
        self.threshold = threshold
        self.interval = threshold / 4
        self.app = app
        self.reports: list[Report] = []
        self._handlers: dict[CodeType, tuple[str, str]] = {}
        self._beat = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._loop_thread = 0

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start watching the running loop (an app startup hook)."""
        if self._thread is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._handlers = self._route_handlers()
        self._stop.clear()
        self._tick()
        self._thread = threading.Thread(target=self._watch, name="keel-blocking", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        """Stop watching (an app shutdown hook)."""
        self._stop.set()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        thread, self._thread = self._thread, None
        if thread is not None:
            await asyncio.to_thread(thread.join, 2)

    def _tick(self) -> None:
        self._beat = time.monotonic()
        if self._loop is not None and not self._stop.is_set():
            self._timer = self._loop.call_later(self.interval, self._tick)

    # -- the watcher thread ------------------------------------------------------------------

    def _watch(self) -> None:
        seen: float | None = None  # the beat the current block started after
        stack: traceback.StackSummary | None = None
        names: tuple[str | None, str | None] = (None, None)
        reported_early = False
        while not self._stop.wait(self.interval):
            beat = self._beat
            late = time.monotonic() - beat - self.interval
            if seen is not None and beat != seen:  # the loop ran again: the block is over
                blocked = beat - seen - self.interval
                if stack is not None and not reported_early:
                    self._report(max(blocked, self.threshold), names, stack)
                seen, stack, reported_early = None, None, False
                continue
            if late <= self.threshold:
                continue
            if seen is None:
                seen = beat
                frame = sys._current_frames().get(self._loop_thread)
                if frame is None:
                    continue
                names, stack = self._describe(frame)
            elif not reported_early and late >= _STILL_BLOCKED and stack is not None:
                reported_early = True
                self._report(late, names, stack, still=True)

    def _describe(
        self, frame: FrameType
    ) -> tuple[tuple[str | None, str | None], traceback.StackSummary]:
        frames: list[FrameType] = []
        names: tuple[str | None, str | None] = (None, None)
        current: FrameType | None = frame
        while current is not None:
            frames.append(current)
            found = self._handlers.get(current.f_code)
            if found is not None:
                names = found
                break
            current = current.f_back
        if names == (None, None):  # not in a handler: the innermost frames of app code
            frames = [f for f in frames if not f.f_code.co_filename.endswith(_INTERNAL)][:8]
            frames = frames or [frame]
        frames.reverse()
        stack = traceback.StackSummary.extract(((f, f.f_lineno) for f in frames), lookup_lines=True)
        return names, stack

    def _report(
        self,
        seconds: float,
        names: tuple[str | None, str | None],
        stack: traceback.StackSummary,
        *,
        still: bool = False,
    ) -> None:
        report = Report(seconds, names[0], names[1], stack)
        self.reports.append(report)
        del self.reports[:-100]
        text = str(report)
        if still:
            text = text.replace("was blocked for", "has been blocked for", 1) + "\n(still blocked)"
        logger.warning("%s", text)

    def _route_handlers(self) -> dict[CodeType, tuple[str, str]]:
        found: dict[CodeType, tuple[str, str]] = {}
        if self.app is None:
            return found
        for route in self.app.routes:
            fn = inspect.unwrap(route.endpoint)
            code = getattr(fn, "__code__", None)
            if isinstance(code, CodeType):
                methods = ",".join(sorted(m for m in route.methods if m != "HEAD"))
                name = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', '?')}"
                found.setdefault(code, (f"{methods or 'GET'} {route.path}", name))
        return found
