"""Helpers of the keel.tasks tests: an app with short leases and fast retries."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from keel import App
from keel.db import Database
from keel.settings import Settings
from keel.tasks import Tasks, Worker, tasks_of
from keel.tasks._lifespan import running
from tests.settings import TEST_SECRET_KEY

FAST: dict[str, Any] = {
    "tasks_lease": 1.0,
    "tasks_poll_interval": 0.05,
    "tasks_backoff": 0.1,
    "tasks_backoff_max": 1.0,
}


def make_app(url: str, **settings: Any) -> tuple[App, Database, Tasks]:
    """An app with a database at ``url`` and fast task settings."""
    app = App(settings=Settings(secret_key=TEST_SECRET_KEY, **{**FAST, **settings}))
    db = Database(url)
    db.init_app(app)
    return app, db, tasks_of(app)


@asynccontextmanager
async def started(app: App, db: Database, *, worker: bool = True) -> AsyncIterator[Worker | None]:
    """The app started (tables created), with a worker running in this process."""
    tasks_of(app).runs_worker = worker
    async with running(app):
        await db.create_all()
        runner = Worker(tasks_of(app), grace=5) if worker else None
        if runner is not None:
            await runner.start()
        try:
            yield runner
        finally:
            if runner is not None:
                await runner.stop()


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> float:
    """Wait until ``check()`` is true; return the seconds it took."""
    start = time.monotonic()
    while not await check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not true within {timeout} s")
        await asyncio.sleep(0.02)
    return time.monotonic() - start
