"""Cron schedules: workers enqueue scheduled tasks at their times (croniter parses)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from typing import TYPE_CHECKING

from croniter import croniter

if TYPE_CHECKING:
    from keel.tasks.registry import Tasks

__all__ = ["run_schedules"]

logger = logging.getLogger("keel.tasks")


async def run_schedules(tasks: Tasks, stop: asyncio.Event) -> None:
    """Enqueue each scheduled task at its times until ``stop`` is set.

    Each firing is enqueued with the idempotency key ``cron:<epoch>``, so with the embedded
    broker any number of workers fire it once.
    """
    scheduled = [t for t in tasks.all().values() if t.schedule is not None]
    if not scheduled:
        return
    start = dt.datetime.now(dt.UTC)
    series = {t.name: croniter(t.schedule or "", start) for t in scheduled}
    due = {name: float(it.get_next(float)) for name, it in series.items()}
    by_name = {t.name: t for t in scheduled}
    while not stop.is_set():
        name = min(due, key=due.__getitem__)
        wait = due[name] - time.time()
        if wait > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
            continue
        try:
            await by_name[name].enqueue(idempotency_key=f"cron:{int(due[name])}")
        except Exception:
            logger.exception("could not enqueue the scheduled task %s", name)
        due[name] = float(series[name].get_next(float))
