"""The job table comes with keel's own migration script (branch ``keel_tasks``)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import MetaData

from keel.db import Database, Model
from keel.db import migrations as m
from keel.db.branches import branches_for
from keel.tasks.models import jobs

from .support import make_app, started


def test_keel_db_migrate_creates_the_job_table_and_jobs_run_on_it(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    assert jobs.metadata is Model.metadata  # keel.db's Model.metadata
    metadata = MetaData(naming_convention=Model.metadata.naming_convention)
    jobs.to_metadata(metadata)  # an app whose only table is the job table
    database = Database(url, metadata=metadata, migrations=tmp_path / "migrations")
    assert [b.label for b in branches_for(metadata)] == ["keel_tasks"]
    m.init(database)
    m.migrate(database)
    assert m.current(database) == ("keel_tasks_0001",)
    assert m.make_migrations(database, "first tables") is None  # never in the app's scripts
    state = m.check(database)
    assert state.up_to_date, state.problem()  # the shipped script is exactly the table

    app, db, _ = make_app(url)

    @app.task
    async def hello(name: str) -> str:
        return f"hello {name}"

    async def scenario() -> str:
        async with started(app, db):  # create_all: nothing left to create
            job = await hello.enqueue("migrations")
            return str(await job.result(timeout=10))

    assert asyncio.run(scenario()) == "hello migrations"
