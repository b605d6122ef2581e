"""The job table of the embedded broker: one row per job, from enqueue to its result.

The table lives on ``keel.db.Model.metadata`` and comes with its own migration script,
shipped in keel (branch ``keel_tasks`` in ``keel/tasks/migrations/``): ``keel db migrate``
creates it beside the app's tables as soon as ``keel.tasks`` is imported.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Column, Float, Index, Integer, String, Table, Text

from keel.db.branches import register_branch
from keel.db.models import Model

__all__ = ["JOB_STATUSES", "jobs"]

JOB_STATUSES = ("queued", "running", "done", "dead")
"""``queued`` (waiting, or waiting for a retry), ``running`` (leased by a worker), ``done``
(finished; its result is stored), ``dead`` (failed its last try: the dead-letter list)."""

jobs = Table(
    "keel_tasks",
    Model.metadata,
    Column("id", String(64), primary_key=True),
    Column("task", String(255), nullable=False),
    Column("queue", String(100), nullable=False, server_default="default"),
    Column("status", String(10), nullable=False),
    Column("message", Text, nullable=False, doc="the taskiq message (JSON)"),
    Column("run_at", Float, nullable=False, doc="epoch seconds: not before"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("max_tries", Integer, nullable=False, server_default="1"),
    Column("lease_until", Float, nullable=True, doc="epoch seconds the running lease ends"),
    Column("worker", String(100), nullable=True),
    Column("idempotency_key", String(255), nullable=True),
    Column("result", Text, nullable=True, doc="the return value (JSON)"),
    Column("error", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("finished_at", Float, nullable=True),
    Index("ix_keel_tasks_status_run_at", "status", "run_at"),
)
"""``keel_tasks``: the queue, the results and the dead letters of the embedded broker."""

register_branch("keel_tasks", Path(__file__).with_name("migrations"), {"keel_tasks"})
