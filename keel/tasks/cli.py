"""``keel worker`` and ``keel tasks list|retry|purge`` (``keel.cli`` entry points)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import signal
import time
from typing import Any

import click
from sqlalchemy import select, update

from keel.cli import AppLoadError, find_target, load_app
from keel.tasks._lifespan import running
from keel.tasks.models import JOB_STATUSES, jobs
from keel.tasks.registry import Tasks, tasks_of
from keel.tasks.results import job_info
from keel.tasks.worker import Worker

__all__ = ["list_jobs", "purge", "retry", "tasks", "worker"]

_HOW = (
    'pass module:app, set KEEL_APP=module:app, or add [tool.keel] app = "module:app" '
    "to pyproject.toml"
)


def _load(target: str | None) -> tuple[Any, Tasks]:
    app = load_app(find_target(target, hint=_HOW))
    return app, tasks_of(app)


@click.command()
@click.argument("target", required=False)
@click.option("--concurrency", type=click.IntRange(min=1), help="Jobs run at once.")
@click.option("--prefetch", type=click.IntRange(min=0), help="Jobs held beyond those running.")
@click.option(
    "--schedule/--no-schedule",
    default=True,
    show_default=True,
    help="Enqueue the cron-scheduled tasks at their times.",
)
@click.option(
    "--grace",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Seconds running jobs get to finish at shutdown (SIGTERM/SIGINT).",
)
def worker(
    target: str | None,
    concurrency: int | None,
    prefetch: int | None,
    schedule: bool,
    grace: float,
) -> None:
    """Run the background jobs of TARGET (module:app) until SIGTERM or Ctrl-C.

    At shutdown the worker stops taking jobs, lets the running ones finish (up to --grace
    seconds) and gives back the ones it had not started. A second signal stops at once;
    the jobs it held then run again once their lease passes.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app, found = _load(target)
    found.runs_worker = True
    asyncio.run(_work(app, found, concurrency, prefetch, schedule, grace))


async def _work(
    app: Any,
    found: Tasks,
    concurrency: int | None,
    prefetch: int | None,
    schedule: bool,
    grace: float,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if stop.is_set():
            raise SystemExit(1)  # a second signal: stop now
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    async with running(app):
        runner = Worker(
            found, concurrency=concurrency, prefetch=prefetch, schedule=schedule, grace=grace
        )
        await runner.start()
        waiting = asyncio.create_task(runner.wait())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        await runner.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting


@click.group()
@click.option("--app", "target", help="module:app (default: KEEL_APP or [tool.keel] app).")
@click.pass_context
def tasks(ctx: click.Context, target: str | None) -> None:
    """Inspect and manage the jobs of the embedded queue (the app's database)."""
    ctx.obj = {"target": target}


def _database(ctx: click.Context) -> tuple[Any, Any]:
    app, found = _load(ctx.obj["target"])
    if found.database is None:
        raise AppLoadError("this app has no keel.db Database: jobs are kept in its database")
    return app, found.database


@tasks.command("list")
@click.option("--status", type=click.Choice(JOB_STATUSES), help="Only jobs in this state.")
@click.option("--task", "task_name", help="Only jobs of this task (module:function).")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.pass_context
def list_jobs(ctx: click.Context, status: str | None, task_name: str | None, limit: int) -> None:
    """List jobs, newest first (``--status dead``: the dead letters)."""
    app, database = _database(ctx)

    async def run() -> list[Any]:
        query = select(jobs).order_by(jobs.c.created_at.desc()).limit(limit)
        if status:
            query = query.where(jobs.c.status == status)
        if task_name:
            query = query.where(jobs.c.task == task_name)
        async with running(app), database.engine.connect() as conn:
            return [job_info(row) for row in (await conn.execute(query)).mappings()]

    found = asyncio.run(run())
    if not found:
        click.echo("no jobs")
        return
    for info in found:
        created = dt.datetime.fromtimestamp(info.created_at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        click.echo(
            f"{info.id}  {info.status:<7}  {info.attempts}/{info.max_tries}  {created}  {info.task}"
        )
        if info.error and info.status in ("dead", "queued"):
            last = info.error.strip().splitlines()[-1]
            click.echo(f"    {last}")


@tasks.command("retry")
@click.argument("job_ids", nargs=-1)
@click.option("--all-dead", is_flag=True, help="Every job in the dead letters.")
@click.pass_context
def retry(ctx: click.Context, job_ids: tuple[str, ...], all_dead: bool) -> None:
    """Queue dead jobs again (JOB_IDS, or --all-dead), with a fresh count of tries."""
    if not job_ids and not all_dead:
        raise click.UsageError("name the jobs to retry, or pass --all-dead")
    app, database = _database(ctx)
    found = tasks_of(app)

    async def run() -> int:
        query = (
            update(jobs)
            .where(jobs.c.status == "dead")
            .values(status="queued", attempts=0, run_at=time.time(), finished_at=None)
        )
        if job_ids:
            query = query.where(jobs.c.id.in_(job_ids))
        async with running(app):
            if found.broker_kind != "database":
                return await _send_again(found, database, job_ids)
            async with database.engine.begin() as conn:
                result = await conn.execute(query)
        return int(getattr(result, "rowcount", 0) or 0)

    count = asyncio.run(run())
    click.echo(f"{count} job(s) queued again")
    if job_ids and count < len(job_ids):
        raise click.ClickException(f"{len(job_ids) - count} of the jobs named are not dead")


@tasks.command()
@click.option(
    "--status",
    "statuses",
    type=click.Choice(["done", "dead", "queued"]),
    multiple=True,
    help="Which jobs to delete (repeatable; default: done).",
)
@click.option(
    "--older-than",
    type=click.FloatRange(min=0),
    help="Only jobs finished (or, for queued, created) more than this many seconds ago.",
)
@click.pass_context
def purge(ctx: click.Context, statuses: tuple[str, ...], older_than: float | None) -> None:
    """Delete finished jobs (and their results); ``--status queued`` drops waiting jobs."""
    app, database = _database(ctx)
    chosen = list(statuses or ("done",))

    async def run() -> int:
        from sqlalchemy import delete, func

        query = delete(jobs).where(jobs.c.status.in_(chosen))
        if older_than is not None:
            since = func.coalesce(jobs.c.finished_at, jobs.c.created_at)
            query = query.where(since < time.time() - older_than)
        async with running(app), database.engine.begin() as conn:
            result = await conn.execute(query)
        return int(getattr(result, "rowcount", 0) or 0)

    click.echo(f"{asyncio.run(run())} job(s) deleted")


async def _send_again(found: Tasks, database: Any, job_ids: tuple[str, ...]) -> int:
    """Dead jobs of a scale broker: send their last message again, as a first try."""
    from keel.tasks.scale import relabel

    query = select(jobs.c.id, jobs.c.message).where(jobs.c.status == "dead")
    if job_ids:
        query = query.where(jobs.c.id.in_(job_ids))
    async with database.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    broker = found.broker
    sent = 0
    for job_id, text in rows:
        if not text:
            click.echo(f"{job_id}: its message was not kept; enqueue it again from the code")
            continue
        message = relabel(broker.formatter.loads(text.encode()), 1)
        async with database.engine.begin() as conn:
            await conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id)
                .values(status="queued", attempts=0, finished_at=None)
            )
        await broker.kick(broker.formatter.dumps(message))
        sent += 1
    return sent
