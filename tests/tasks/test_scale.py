"""The scale brokers against real servers: Redis streams, RabbitMQ and NATS JetStream.

Each test uses a queue of its own (removed afterwards) and keeps results in a SQLite file.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from keel.cli import main
from keel.tasks import Job, JobFailed, TaskError, tasks_of

from .support import make_app, started
from .test_process import ROOT, crash_and_rerun

SERVERS = {
    "redis": ("redis://127.0.0.1:6379/0", 6379),
    "amqp": ("amqp://guest:guest@127.0.0.1:5672/", 5672),
    "nats": ("nats://127.0.0.1:4222", 4222),
}


def _reachable(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(params=sorted(SERVERS))
def broker(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """``(url, queue)``: a reachable broker and a queue name no one else uses."""
    from tests.services import require

    url, port = SERVERS[request.param]
    if not _reachable(port):
        require(f"{request.param} is not reachable on 127.0.0.1:{port}")
    queue = f"test{uuid.uuid4().hex[:10]}"
    yield url, queue
    asyncio.run(_remove(request.param, url, queue))


async def _remove(kind: str, url: str, queue: str) -> None:
    if kind == "redis":
        from redis.asyncio import Redis

        async with Redis.from_url(url) as redis:
            await redis.delete(f"keel:tasks:{queue}")
    elif kind == "amqp":
        import aio_pika

        connection = await aio_pika.connect(url)
        async with connection:
            channel = await connection.channel()
            for name in (
                f"keel.tasks.{queue}",
                f"keel.tasks.{queue}.dead",
                f"keel.tasks.{queue}.delay",
            ):
                await channel.queue_delete(name)
    else:
        import nats

        client = await nats.connect(url)
        try:
            await client.jetstream().delete_stream(f"keel_tasks_{queue}")
        finally:
            await client.close()


def test_enqueue_run_result_retry_and_dead_letter(broker: tuple[str, str], tmp_path: Path) -> None:
    url, queue = broker
    app, db, tasks = make_app(
        f"sqlite+aiosqlite:///{tmp_path / 'results.db'}",
        tasks_broker=url,
        tasks_queue=queue,
        tasks_backoff=0.2,
    )
    tries: list[float] = []

    @app.task
    async def add(a: int, b: int) -> int:
        return a + b

    @app.task(retries=2)
    async def flaky() -> None:
        tries.append(time.monotonic())
        raise ConnectionError("down")

    async def scenario() -> None:
        async with started(app, db):
            assert tasks.broker_kind == url.partition(":")[0]
            job = await add.enqueue(20, 22)
            assert await job.result(timeout=15) == 42
            batch = await add.enqueue_many([{"a": i, "b": i} for i in range(20)])
            assert [await j.result(timeout=15) for j in batch] == [2 * i for i in range(20)]
            start = time.monotonic()
            if tasks.broker_delays:  # RabbitMQ: through its delay queue
                later = await add.enqueue_in(0.5, 1, 1)
                assert await later.result(timeout=15) == 2
                assert time.monotonic() - start >= 0.45
            else:
                with pytest.raises(TaskError, match="delayed jobs need"):
                    await add.enqueue_in(0.5, 1, 1)
            failing = await flaky.enqueue()
            with pytest.raises(JobFailed, match="ConnectionError: down"):
                await failing.result(timeout=15)

    asyncio.run(scenario())
    assert len(tries) == 3
    assert tries[1] - tries[0] >= 0.2 * 0.9
    assert tries[2] - tries[1] >= 0.4 * 0.9


def test_dead_letters_are_listed_and_sent_again(
    broker: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, queue = broker
    crash_app = _crash_app(url, queue, tmp_path, monkeypatch)
    app, db = crash_app.app, crash_app.db
    monkeypatch.chdir(ROOT)
    runner = CliRunner()
    target = ["tasks", "--app", "tests.tasks.crash_app:app"]

    async def until_dead(job_id: str | None) -> str:
        async with started(app, db):
            job = await crash_app.always_fails.enqueue(3) if job_id is None else None
            found = job.id if job is not None else str(job_id)
            task = crash_app.always_fails
            handle = Job(found, task, tasks_of(app))
            deadline = time.monotonic() + 30
            while not (
                (info := await handle.info()) is not None
                and info.status == "dead"
                and len(crash_app.FAILURES) in (2, 4)
            ):
                assert time.monotonic() < deadline, "the job did not die"
                await asyncio.sleep(0.02)
            return found

    job_id = asyncio.run(until_dead(None))
    listed = runner.invoke(main, [*target, "list", "--status", "dead"])
    assert job_id in listed.output and "LookupError: no 3" in listed.output, listed.output
    retried = runner.invoke(main, [*target, "retry", "--all-dead"])
    assert "1 job(s) queued again" in retried.output, retried.output
    asyncio.run(until_dead(job_id))
    assert crash_app.FAILURES == [3, 3, 3, 3]  # two tries, then two more after the retry


def _crash_app(url: str, queue: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("KEEL_TEST_TASKS_DB", f"sqlite+aiosqlite:///{tmp_path / 'crash.db'}")
    monkeypatch.setenv("KEEL_TEST_TASKS_MARKS", str(tmp_path))
    monkeypatch.setenv("KEEL_TASKS_BROKER", url)
    monkeypatch.setenv("KEEL_TASKS_QUEUE", queue)
    monkeypatch.setenv("KEEL_TASKS_BACKOFF", "0.05")
    import importlib

    import tests.tasks.crash_app as crash_app

    return importlib.reload(crash_app)


def test_sigkilled_worker_job_is_delivered_again(
    broker: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, queue = broker
    crash_app = _crash_app(url, queue, tmp_path, monkeypatch)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    seconds = crash_and_rerun(env, tmp_path)
    print(f"{url.partition(':')[0]}: delivered again {seconds:.2f} s after the kill")
    assert tasks_of(crash_app.app).broker_kind == url.partition(":")[0]
    sys.stdout.flush()
