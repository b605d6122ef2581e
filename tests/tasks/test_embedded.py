"""The embedded broker on SQLite and PostgreSQL: run, results, retries, dead letters, DI."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Annotated

import pytest
from pydantic import BaseModel
from sqlalchemy import func, select, text

from keel import Depends, Request, Settings
from keel.db import Session
from keel.settings import get_settings
from keel.tasks import JobContext, JobFailed, TaskError, current_job, task
from keel.tasks.models import jobs

from .support import eventually, make_app, started


def prefix(settings: Annotated[Settings, Depends(get_settings)]) -> str:
    return f"lease={settings.tasks_lease}"


def needs_request(request: Request) -> str:
    return request.url.path


class Point(BaseModel):
    x: int
    y: int


def test_enqueue_run_result_async_and_sync(database_url: str) -> None:
    app, db, _ = make_app(database_url)

    @app.task
    async def add(a: int, b: int = 1) -> int:
        return a + b

    @app.task
    def shift(point: Point, by: int) -> Point:  # sync: runs in a thread
        return Point(x=point.x + by, y=point.y + by)

    async def scenario() -> None:
        async with started(app, db):
            first = await add.enqueue(2, b=3)
            assert await first.result(timeout=10) == 5
            assert await first.status() == "done"
            moved = await shift.enqueue(point=Point(x=1, y=2), by=10)
            assert await moved.result(timeout=10) == Point(x=11, y=12)
            info = await moved.info()
            assert info is not None and info.attempts == 1 and info.result == {"x": 11, "y": 12}

    asyncio.run(scenario())
    assert asyncio.run(add(1)) == 2  # calling the task runs it directly


def test_batch_enqueue_and_bad_arguments(database_url: str) -> None:
    app, db, _ = make_app(database_url)

    @app.task
    async def double(n: int) -> int:
        return 2 * n

    async def scenario() -> None:
        async with started(app, db):
            batch = await double.enqueue_many([{"n": i} for i in range(50)] + [(50,)])
            assert [await job.result(timeout=10) for job in batch] == [2 * i for i in range(51)]
            with pytest.raises(TaskError, match="bad arguments"):
                await double.enqueue(n="not a number")
            with pytest.raises(TaskError, match="bad arguments"):
                await double.enqueue(n=1, extra=2)
            with pytest.raises(TaskError, match="takes 1 argument"):
                await double.enqueue(1, 2)
            async with db.engine.connect() as conn:
                assert await conn.scalar(select(func.count()).select_from(jobs)) == 51

    asyncio.run(scenario())


def test_enqueue_in_and_at_wait_their_time(database_url: str) -> None:
    app, db, _ = make_app(database_url)
    ran: dict[str, float] = {}

    @app.task
    async def stamp(name: str) -> None:
        ran[name] = time.time()

    async def scenario() -> None:
        async with started(app, db):
            start = time.time()
            later = await stamp.enqueue_in(dt.timedelta(seconds=0.6), "in")
            at = await stamp.enqueue_at(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=0.6), "at")
            now = await stamp.enqueue("now")
            await now.result(timeout=10)
            assert await later.status() == "queued"
            await later.result(timeout=10)
            await at.result(timeout=10)
            assert ran["in"] - start >= 0.55
            assert ran["at"] - start >= 0.55
            assert ran["now"] - start < 0.5

    asyncio.run(scenario())


def test_retries_back_off_exponentially_then_succeed(database_url: str) -> None:
    app, db, _ = make_app(database_url, tasks_backoff=0.2)
    tries: list[float] = []

    @app.task(retries=3)
    async def flaky() -> str:
        tries.append(time.monotonic())
        if len(tries) < 3:
            raise ConnectionError("try again")
        return "ok"

    async def scenario() -> None:
        async with started(app, db):
            job = await flaky.enqueue()
            assert await job.result(timeout=10) == "ok"
            info = await job.info()
            assert info is not None and info.attempts == 3 and info.status == "done"

    asyncio.run(scenario())
    first_wait, second_wait = tries[1] - tries[0], tries[2] - tries[1]
    assert first_wait >= 0.2 * 0.9  # backoff, less at most 10 % jitter
    assert second_wait >= 0.4 * 0.9  # doubled
    assert second_wait > first_wait


def test_dead_letter_after_the_last_try(database_url: str) -> None:
    app, db, _ = make_app(database_url, tasks_backoff=0.05)
    tries: list[int] = []

    @app.task(retries=2)
    async def doomed(n: int) -> None:
        tries.append(n)
        raise ValueError(f"cannot handle {n}")

    async def scenario() -> None:
        async with started(app, db):
            job = await doomed.enqueue(7)
            with pytest.raises(JobFailed, match="failed after 3 tries") as failed:
                await job.result(timeout=10)
            assert "ValueError: cannot handle 7" in (failed.value.info.error or "")
            assert await job.status() == "dead"

    asyncio.run(scenario())
    assert tries == [7, 7, 7]


def test_timeout_fails_the_try(database_url: str) -> None:
    app, db, _ = make_app(database_url)

    @app.task(timeout=0.2, retries=0)
    async def slow() -> None:
        await asyncio.sleep(5)

    async def scenario() -> None:
        async with started(app, db):
            job = await slow.enqueue()
            start = time.monotonic()
            with pytest.raises(JobFailed, match="TimeoutError"):
                await job.result(timeout=10)
            assert time.monotonic() - start < 3

    asyncio.run(scenario())


def test_dependencies_settings_session_and_job(database_url: str) -> None:
    app, db, _ = make_app(database_url)
    seen: dict[str, object] = {}

    @app.task
    async def record(
        note: str,
        session: Session,
        tag: Annotated[str, Depends(prefix)],
        job: Annotated[JobContext, Depends(current_job)],
    ) -> str:
        await session.execute(text("INSERT INTO notes (body) VALUES (:b)"), {"b": f"{note} {tag}"})
        seen["attempt"] = job.attempt
        return job.id

    async def scenario() -> None:
        async with started(app, db):
            async with db.engine.begin() as conn:
                await conn.execute(text("CREATE TABLE notes (body VARCHAR(100))"))
            job = await record.enqueue("hello")
            assert await job.result(timeout=10) == job.id
            async with db.engine.connect() as conn:
                assert await conn.scalar(text("SELECT body FROM notes")) == "hello lease=1.0"

    asyncio.run(scenario())
    assert seen["attempt"] == 1


def test_a_failing_task_rolls_its_session_back(database_url: str) -> None:
    app, db, _ = make_app(database_url)

    @app.task(retries=0)
    async def half_done(session: Session) -> None:
        await session.execute(text("INSERT INTO notes (body) VALUES ('partial')"))
        raise RuntimeError("stop")

    async def scenario() -> None:
        async with started(app, db):
            async with db.engine.begin() as conn:
                await conn.execute(text("CREATE TABLE notes (body VARCHAR(100))"))
            job = await half_done.enqueue()
            with pytest.raises(JobFailed):
                await job.result(timeout=10)
            async with db.engine.connect() as conn:
                assert await conn.scalar(text("SELECT count(*) FROM notes")) == 0

    asyncio.run(scenario())


def test_idempotency_key_enqueues_once(database_url: str) -> None:
    app, db, _ = make_app(database_url)
    runs: list[str] = []

    @app.task
    async def charge(order: str) -> None:
        runs.append(order)

    async def scenario() -> None:
        async with started(app, db):
            first = await charge.enqueue("A-1", idempotency_key="order-A-1")
            second = await charge.enqueue("A-1", idempotency_key="order-A-1")
            assert first.id == second.id
            await first.result(timeout=10)
            third = await charge.enqueue("A-1", idempotency_key="order-A-1")  # after it ran
            assert third.id == first.id
            await asyncio.sleep(0.2)

    asyncio.run(scenario())
    assert runs == ["A-1"]


def test_a_task_signature_a_worker_cannot_satisfy_fails_at_startup(database_url: str) -> None:
    app, db, _ = make_app(database_url)

    @app.task
    async def wrong(value: Annotated[str, Depends(needs_request)]) -> None:
        return None

    async def scenario() -> None:
        async with started(app, db, worker=False):
            pass

    with pytest.raises(TypeError, match="which a task does not have"):
        asyncio.run(scenario())


def test_reserved_and_variadic_parameters_are_refused() -> None:
    from keel.tasks import task

    with pytest.raises(TypeError, match="reserved"):

        @task
        def bad(idempotency_key: str) -> None: ...

    with pytest.raises(TypeError, match="named arguments"):

        @task
        def variadic(*items: int) -> None: ...

    with pytest.raises(ValueError, match="not a cron expression"):

        @task(schedule="every day")
        def never() -> None: ...


def test_schedule_fires(database_url: str) -> None:
    app, db, _ = make_app(database_url)
    fired: list[float] = []

    @app.task(schedule="* * * * * *")  # a sixth field: every second
    async def tick() -> None:
        fired.append(time.time())

    async def scenario() -> None:
        async with started(app, db):
            await eventually(lambda: _true(len(fired) >= 2), timeout=5)

    asyncio.run(scenario())
    assert fired[1] - fired[0] >= 0.5


async def _true(value: bool) -> bool:
    return value


@task(name="tests.tasks.shout")
async def shout(word: str) -> str:
    """A task declared apart from any app: it runs on the app that started."""
    return word.upper()


def test_a_module_level_task_runs_on_the_started_app(database_url: str) -> None:
    app, db, tasks = make_app(database_url)
    assert tasks.find("tests.tasks.shout") is shout

    async def scenario() -> str:
        async with started(app, db):
            job = await shout.enqueue("quiet")
            return await job.result(timeout=10)

    assert asyncio.run(scenario()) == "QUIET"
