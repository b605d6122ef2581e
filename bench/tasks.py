"""Background-job benchmark of keel.tasks: enqueue rate, drain rate, start latency.

Separate from the HTTP benchmark (``bench/run``). Run it from the repository root with the
development environment::

    .venv/bin/python -m bench.tasks                       # embedded broker on SQLite
    .venv/bin/python -m bench.tasks --database postgresql+asyncpg://postgres@127.0.0.1/bench
    .venv/bin/python -m bench.tasks --broker redis://127.0.0.1:6379/0

Measured, each in one process on one event loop (uvloop when installed):

- enqueue, one at a time: ``await task.enqueue(i)`` in a loop (jobs/s);
- enqueue, batch: ``await task.enqueue_many(...)`` of 500 calls at a time (jobs/s);
- drain: a worker (concurrency 10, prefetch 100) running queued no-op jobs (jobs/s);
- start latency: jobs enqueued at a steady rate (200/s by default) while a worker runs in
  the same process; the time from ``enqueue`` returning to the job starting (p50/p99, ms).

A database for results is a SQLite file in a temporary folder unless ``--database`` names
one (a PostgreSQL database named there is emptied: its ``keel_tasks`` table is dropped).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import text

from keel import App, Settings
from keel.db import Database
from keel.tasks import Worker, tasks_of
from keel.tasks._lifespan import running

STARTED: dict[int, float] = {}
DONE: list[int] = []


def build(database: str, broker: str | None, queue: str) -> tuple[App, Database, Any, Any]:
    settings: dict[str, Any] = {
        "secret_key": "bench-" + "x" * 40,
        "tasks_queue": queue,
        "tasks_concurrency": 10,
        "tasks_prefetch": 100,
        "tasks_poll_interval": 0.05,
        "tasks_retries": 0,
    }
    if broker:
        settings["tasks_broker"] = broker
    app = App(settings=Settings(**settings))
    db = Database(database)
    db.init_app(app)
    tasks = tasks_of(app)

    @tasks.task(name="bench.noop")
    async def noop(i: int) -> None:
        DONE.append(i)

    @tasks.task(name="bench.stamp")
    async def stamp(i: int) -> None:
        STARTED[i] = time.perf_counter()

    return app, db, noop, stamp


async def measure(args: argparse.Namespace) -> None:
    queue = f"bench{uuid.uuid4().hex[:8]}"
    folder = tempfile.mkdtemp(prefix="keel-bench-tasks-")
    database = args.database or f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
    app, db, noop, stamp = build(database, args.broker, queue)
    tasks = tasks_of(app)
    tasks.runs_worker = True
    label = args.broker.partition(":")[0] if args.broker else db.dialect
    async with running(app):
        async with db.engine.begin() as conn:
            await conn.execute(text("DROP TABLE IF EXISTS keel_tasks"))
        await db.create_all()
        n = args.jobs

        start = time.perf_counter()
        for i in range(n):
            await noop.enqueue(i)
        single = n / (time.perf_counter() - start)

        start = time.perf_counter()
        for first in range(n, 3 * n, 500):
            await noop.enqueue_many([{"i": i} for i in range(first, min(first + 500, 3 * n))])
        batch = 2 * n / (time.perf_counter() - start)

        worker = Worker(tasks, concurrency=10, prefetch=100, schedule=False)
        start = time.perf_counter()
        await worker.start()
        while len(DONE) < 3 * n:
            await asyncio.sleep(0.005)
        drain = 3 * n / (time.perf_counter() - start)

        latencies: list[float] = []
        interval = 1 / args.rate
        total = int(args.rate * args.seconds)
        next_at = time.perf_counter()
        sent: dict[int, float] = {}
        for i in range(total):
            now = time.perf_counter()
            if now < next_at:
                await asyncio.sleep(next_at - now)
            next_at += interval
            await stamp.enqueue(i)
            sent[i] = time.perf_counter()
        deadline = time.perf_counter() + 10
        while len(STARTED) < total and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)
        latencies = [(STARTED[i] - sent[i]) * 1000 for i in sent if i in STARTED]
        await worker.stop()
        with contextlib.suppress(Exception):
            async with db.engine.begin() as conn:
                await conn.execute(text("DROP TABLE IF EXISTS keel_tasks"))
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    print(f"broker: {label}  jobs: {n} (+{2 * n} batched)")
    print(f"  enqueue one at a time   {single:10,.0f} jobs/s")
    print(f"  enqueue batch of 500    {batch:10,.0f} jobs/s")
    print(f"  drain (no-op jobs)      {drain:10,.0f} jobs/s")
    print(
        f"  start latency at {args.rate}/s  p50 {quantiles[49]:.2f} ms  p99 {quantiles[98]:.2f} ms"
        f"  ({len(latencies)}/{total} started)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", help="SQLAlchemy URL (default: a temporary SQLite file)")
    parser.add_argument("--broker", help="KEEL_TASKS_BROKER (default: the database table)")
    parser.add_argument("--jobs", type=int, default=5000, help="jobs per measurement")
    parser.add_argument("--rate", type=int, default=200, help="jobs/s for the latency run")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of the latency run")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.run(measure(args))
    except ImportError:
        asyncio.run(measure(args))


if __name__ == "__main__":
    main()
