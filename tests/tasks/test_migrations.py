"""The job table reaches the app's migrations like any model's table."""

from __future__ import annotations

import asyncio
from pathlib import Path

from keel.db import Database
from keel.db import migrations as m
from keel.tasks.models import jobs

from .support import make_app, started


def test_makemigrations_writes_the_job_table_and_jobs_run_on_it(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    database = Database(url, migrations=tmp_path / "migrations")
    assert jobs.metadata is database.metadata  # keel.db's Model.metadata
    m.init(database)
    script = m.make_migrations(database, "first tables")
    assert script is not None
    text = script.read_text()
    assert "'keel_tasks'" in text and "ix_keel_tasks_status_run_at" in text
    m.migrate(database)
    assert m.check(database).up_to_date

    app, db, _ = make_app(url)

    @app.task
    async def hello(name: str) -> str:
        return f"hello {name}"

    async def scenario() -> str:
        async with started(app, db):  # create_all: nothing left to create
            job = await hello.enqueue("migrations")
            return str(await job.result(timeout=10))

    assert asyncio.run(scenario()) == "hello migrations"
