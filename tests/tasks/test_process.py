"""Worker processes: SIGKILL mid-job (the job runs again, its effect applied once), SIGTERM
(running jobs finish, unstarted ones go back), and the ``keel tasks`` commands."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from keel.cli import main
from keel.tasks import tasks_of

from .support import started

KEEL = str(Path(sys.executable).parent / "keel")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    monkeypatch.setenv("KEEL_TEST_TASKS_DB", database_url)
    monkeypatch.setenv("KEEL_TEST_TASKS_MARKS", str(tmp_path))
    import importlib

    import tests.tasks.crash_app as crash_app

    importlib.reload(crash_app)  # this test's database and marks folder
    yield {**os.environ, "PYTHONPATH": str(ROOT)}


def _worker(env: dict[str, str], *extra: str) -> subprocess.Popen[bytes]:
    log = Path(env["KEEL_TEST_TASKS_MARKS"]) / "worker.log"
    with log.open("ab") as out:
        return subprocess.Popen(
            [KEEL, "worker", "tests.tasks.crash_app:app", "--grace", "5", *extra],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _log(path: Path) -> str:
    log = path / "worker.log"
    return log.read_text() if log.exists() else ""


def _wait_file(path: Path, proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"worker exited early:\n{_log(path.parent)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path.name} did not appear")
        time.sleep(0.02)


def test_sigkilled_worker_job_runs_again_and_applies_once(
    env: dict[str, str], tmp_path: Path
) -> None:
    crash_and_rerun(env, tmp_path)


def crash_and_rerun(env: dict[str, str], tmp_path: Path) -> float:
    """Kill a worker mid-job, start another: the job runs again and its write counts once.
    Returns the seconds from the kill to the job's completion."""
    import tests.tasks.crash_app as crash_app

    redelivered = 0.0

    app, db = crash_app.app, crash_app.db

    async def scenario() -> None:
        nonlocal redelivered
        async with started(app, db, worker=False):
            async with db.engine.begin() as conn:
                await conn.execute(text("CREATE TABLE counters (name VARCHAR(20), value INT)"))
                await conn.execute(text("INSERT INTO counters VALUES ('c', 0)"))
            job = await crash_app.apply_once.enqueue("c")
            first = _worker(env)
            try:
                _wait_file(tmp_path / "c.started", first)
                first.send_signal(signal.SIGKILL)  # mid-job: its transaction is open
                first.wait(10)
            finally:
                first.kill()
            killed = time.monotonic()
            second = _worker(env)  # the queue is quiet: nothing else arrives
            try:
                assert await job.result(timeout=30) == "applied", _log(tmp_path)
                redelivered = time.monotonic() - killed
                print(f"redelivered {redelivered:.2f} s after the kill")
            finally:
                second.send_signal(signal.SIGTERM)
                second.wait(15)
            info = await job.info()
            assert info is not None and info.status == "done"
            if tasks_of(app).broker_kind == "database":
                assert info.attempts == 2  # the broker counts deliveries
            async with db.engine.connect() as conn:
                value = await conn.scalar(text("SELECT value FROM counters WHERE name = 'c'"))
            assert value == 1  # the killed try's write never committed; the re-run's did
            lease = float(os.environ.get("KEEL_TEST_TASKS_LEASE", "1.0"))
            assert redelivered < lease + 14, redelivered  # + a worker's start on a busy machine

    asyncio.run(scenario())
    return redelivered


def test_sigterm_finishes_the_running_job_and_gives_back_the_others(
    env: dict[str, str], tmp_path: Path
) -> None:
    import tests.tasks.crash_app as crash_app

    app, db = crash_app.app, crash_app.db

    async def scenario() -> None:
        async with started(app, db, worker=False):
            first = await crash_app.linger.enqueue("first", 0.8)
            waiting = [await crash_app.linger.enqueue(f"next{i}", 0.1) for i in range(3)]
            proc = _worker(env, "--concurrency", "1", "--prefetch", "5")
            try:
                _wait_file(tmp_path / "first.started", proc)
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(15) == 0
            finally:
                proc.kill()
            assert (tmp_path / "first.done").exists()  # it finished before the worker exited
            assert await first.status() == "done"
            for job in waiting:  # claimed by the worker (prefetch) but never started
                info = await job.info()
                assert info is not None and (info.status, info.attempts) == ("queued", 0)

    asyncio.run(scenario())


def test_tasks_cli_lists_retries_and_purges_dead_letters(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tests.tasks.crash_app as crash_app

    app, db = crash_app.app, crash_app.db

    @app.task(retries=0, name="fail_then_pass")
    async def fail_then_pass() -> str:
        marker = tmp_path / "failed-once"
        if not marker.exists():
            marker.write_text("1")
            raise ValueError("first try fails")
        return "second time lucky"

    monkeypatch.chdir(ROOT)
    runner = CliRunner()
    target = ["tasks", "--app", "tests.tasks.crash_app:app"]

    async def fail() -> str:
        async with started(app, db):
            job = await fail_then_pass.enqueue()
            while await job.status() != "dead":
                await asyncio.sleep(0.02)
            return str(job.id)

    job_id = asyncio.run(fail())
    listed = runner.invoke(main, [*target, "list", "--status", "dead"])
    assert listed.exit_code == 0, listed.output
    assert job_id in listed.output and "fail_then_pass" in listed.output
    assert "ValueError: first try fails" in listed.output

    missing = runner.invoke(main, [*target, "retry"])
    assert missing.exit_code == 2 and "--all-dead" in missing.output
    retried = runner.invoke(main, [*target, "retry", job_id])
    assert retried.exit_code == 0 and "1 job(s) queued again" in retried.output

    async def rerun() -> str:
        async with started(app, db):
            job = tasks_of(app).find("fail_then_pass")
            assert job is not None
            from keel.tasks import Job

            value = await Job(job_id, job, tasks_of(app)).result(timeout=10)
            return str(value)

    assert asyncio.run(rerun()) == "second time lucky"
    purged = runner.invoke(main, [*target, "purge", "--status", "done"])
    assert purged.exit_code == 0 and "1 job(s) deleted" in purged.output
    assert "no jobs" in runner.invoke(main, [*target, "list"]).output
