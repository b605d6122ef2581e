"""keel.admin: the audit log.

Revision ID: keel_admin_0001
Revises:
Create Date: 2026-12-05

Shipped with keel (branch ``keel_admin``); ``keel db migrate`` applies it beside the app's
own scripts, after keel.auth's branch (it points at ``auth_users``). It declares no Alembic
``depends_on``: Alembic loses track of its heads when shipped branches depend on each other,
so ``keel db migrate`` orders the branches itself.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "keel_admin_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("keel_admin",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "admin_log",
        sa.Column("action_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("user_repr", sa.String(length=254), nullable=False),
        sa.Column("app_label", sa.String(length=100), nullable=False),
        sa.Column("model_name", sa.String(length=100), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=False),
        sa.Column("object_repr", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth_users.id"],
            name=op.f("fk_admin_log_user_id_auth_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_log")),
    )
    op.create_index("ix_admin_log_object", "admin_log", ["app_label", "model_name", "object_id"])
    op.create_index(op.f("ix_admin_log_user_id"), "admin_log", ["user_id"])


def downgrade() -> None:
    op.drop_table("admin_log")
