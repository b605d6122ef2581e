"""Enqueueing inside a request joins the request's transaction (a transactional outbox)."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select, text

from keel import HTTPError
from keel.db import Session
from keel.tasks.models import jobs
from keel.testing import TestClient

from .support import make_app


def test_request_rollback_enqueues_nothing_and_commit_runs_the_job(database_url: str) -> None:
    app, db, tasks = make_app(database_url, tasks_worker_in_process=True)
    sent: list[int] = []

    @app.task
    async def confirm(order: int) -> None:
        sent.append(order)

    @app.on_startup
    async def tables() -> None:
        await db.create_all()
        async with db.engine.begin() as conn:
            await conn.execute(text("CREATE TABLE orders (id INT)"))

    @app.post("/orders/{order}")
    async def place(order: int, session: Session) -> dict[str, str]:
        await session.execute(text("INSERT INTO orders VALUES (:id)"), {"id": order})
        job = await confirm.enqueue(order)
        if order < 0:
            raise HTTPError(409, "refused after enqueueing")
        return {"job": job.id}

    async def count(table: str) -> int:
        async with db.engine.connect() as conn:
            table_ = jobs if table == "jobs" else text(table)
            query = select(func.count()).select_from(table_)
            return int(await conn.scalar(query) or 0)

    with TestClient(app) as client:
        refused = client.post("/orders/-1")
        assert refused.status_code == 409
        assert refused.json()["detail"] == "refused after enqueueing"
        assert client.run(count("jobs")) == 0  # rolled back with the order
        assert client.run(count("orders")) == 0

        placed = client.post("/orders/5")
        assert placed.status_code == 200
        assert client.run(count("jobs")) == 1

        async def done() -> None:
            while not sent:
                await asyncio.sleep(0.01)

        client.run(asyncio.wait_for(done(), 10))  # the in-process worker ran it
    assert sent == [5]
