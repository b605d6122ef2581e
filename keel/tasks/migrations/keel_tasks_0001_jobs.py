"""keel.tasks: the job table of the embedded broker.

Revision ID: keel_tasks_0001
Revises:
Create Date: 2026-12-05

Shipped with keel (branch ``keel_tasks``); ``keel db migrate`` applies it beside the app's
own scripts.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "keel_tasks_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("keel_tasks",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "keel_tasks",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("task", sa.String(length=255), nullable=False),
        sa.Column("queue", sa.String(length=100), server_default="default", nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("run_at", sa.Float(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("max_tries", sa.Integer(), server_default="1", nullable=False),
        sa.Column("lease_until", sa.Float(), nullable=True),
        sa.Column("worker", sa.String(length=100), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("finished_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_keel_tasks")),
    )
    op.create_index("ix_keel_tasks_status_run_at", "keel_tasks", ["status", "run_at"])


def downgrade() -> None:
    op.drop_table("keel_tasks")
