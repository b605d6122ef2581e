"""The worker: taskiq's receiver on the app's broker, with keel's delivery guarantees.

A job is acknowledged after it ran and its outcome was stored; a worker holds at most
``concurrency + prefetch`` jobs; at shutdown it stops taking jobs, lets the running ones
finish (up to ``grace`` seconds) and gives back the ones it had not started.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from taskiq.acks import AcknowledgeType
from taskiq.receiver import Receiver

from keel.tasks.broker import DatabaseBroker
from keel.tasks.schedule import run_schedules

if TYPE_CHECKING:
    from keel.tasks.registry import Tasks

__all__ = ["Worker"]

logger = logging.getLogger("keel.tasks")


class Worker:
    """Runs an app's jobs in this process (``keel worker`` makes one; so does ``keel run``).

    Args:
        tasks: the app's tasks (``tasks_of(app)``), started with ``runs_worker`` set (a
            broker such as RabbitMQ's opens its reading side only then).
        concurrency: jobs run at once (``KEEL_TASKS_CONCURRENCY``).
        prefetch: jobs held beyond the running ones (``KEEL_TASKS_PREFETCH``).
        schedule: also enqueue the cron-scheduled tasks at their times.
        grace: seconds running jobs get to finish at shutdown.
    """

    def __init__(
        self,
        tasks: Tasks,
        *,
        concurrency: int | None = None,
        prefetch: int | None = None,
        schedule: bool = True,
        grace: float = 30.0,
    ) -> None:
        settings = tasks.settings
        self.tasks = tasks
        self.concurrency = concurrency or settings.tasks_concurrency
        self.prefetch = settings.tasks_prefetch if prefetch is None else prefetch
        self.schedule = schedule
        self.grace = grace
        self._stop = asyncio.Event()
        self._listening: asyncio.Task[None] | None = None
        self._scheduler: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start taking jobs (returns at once; :meth:`stop` ends it)."""
        broker = self.tasks.broker
        if isinstance(broker, DatabaseBroker):
            broker.prefetch = max(1, self.prefetch)
            self._heartbeat = asyncio.create_task(
                broker.heartbeat(self._stop), name="keel.tasks leases"
            )
        receiver = Receiver(
            broker,
            validate_params=False,  # keel validates the arguments against the task's signature
            max_async_tasks=self.concurrency,
            # the broker's own read-ahead is the prefetch (claims of `prefetch` jobs, the
            # RabbitMQ/NATS window): the receiver asks for a job only when one can start
            max_prefetch=0,
            run_startup=False,
            ack_type=AcknowledgeType.WHEN_SAVED,
            wait_tasks_timeout=self.grace,
        )
        self._listening = asyncio.create_task(receiver.listen(self._stop), name="keel.tasks")
        if self.schedule:
            self._scheduler = asyncio.create_task(
                run_schedules(self.tasks, self._stop), name="keel.tasks schedules"
            )
        logger.info(
            "worker started: %d task(s), broker %s, concurrency %d, prefetch %d",
            len(self.tasks.all()),
            self.tasks.broker_kind,
            self.concurrency,
            self.prefetch,
        )

    async def wait(self) -> None:
        """Until the worker stops (or fails)."""
        if self._listening is not None:
            await self._listening

    async def stop(self) -> None:
        """Stop taking jobs, finish the running ones, give back the others."""
        self._stop.set()
        for running in (self._scheduler, self._listening):
            if running is None:
                continue
            try:
                await asyncio.wait_for(asyncio.shield(running), self.grace + 5)
            except TimeoutError:
                running.cancel()
            except Exception:
                logger.exception("the worker stopped with an error")
        broker = self.tasks.broker
        if self._heartbeat is not None:
            await self._heartbeat  # it ends when _stop is set
        if isinstance(broker, DatabaseBroker):
            await broker.release_held()
        logger.info("worker stopped")
