"""keel.auth: users, groups, permissions and tokens.

Revision ID: keel_auth_0001
Revises:
Create Date: 2026-12-05

Shipped with keel (branch ``keel_auth``); ``keel db migrate`` applies it beside the app's
own scripts. Never edit it in a project: add the app's own columns to ``auth_users`` through
a model declared from ``AbstractUser`` and ``keel db makemigrations``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "keel_auth_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("keel_auth",)
depends_on: str | Sequence[str] | None = None

_WHEN = sa.DateTime(timezone=True)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{target}.id"],
        name=op.f(f"fk_{table}_{column}_{target}"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "auth_groups",
        sa.Column("name", sa.String(length=150), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_groups")),
        sa.UniqueConstraint("name", name=op.f("uq_auth_groups_name")),
    )
    op.create_table(
        "auth_permissions",
        sa.Column("app_label", sa.String(length=100), nullable=False),
        sa.Column("codename", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_permissions")),
        sa.UniqueConstraint(
            "app_label", "codename", name=op.f("uq_auth_permissions_app_label_codename")
        ),
    )
    op.create_table(
        "auth_users",
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("username", sa.String(length=150), nullable=True),
        sa.Column("password", sa.String(length=255), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("is_staff", sa.Boolean(), nullable=False),
        sa.Column("is_superuser", sa.Boolean(), nullable=False),
        sa.Column("last_login", _WHEN, nullable=True),
        sa.Column("session_version", sa.Integer(), server_default="0", nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_users")),
        sa.UniqueConstraint("email", name=op.f("uq_auth_users_email")),
        sa.UniqueConstraint("username", name=op.f("uq_auth_users_username")),
    )
    op.create_table(
        "auth_api_tokens",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("scopes", sa.String(length=1000), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("expires_at", _WHEN, nullable=True),
        sa.Column("last_used_at", _WHEN, nullable=True),
        sa.Column("revoked_at", _WHEN, nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        _fk("auth_api_tokens", "user_id", "auth_users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_api_tokens")),
        sa.UniqueConstraint("digest", name=op.f("uq_auth_api_tokens_digest")),
    )
    op.create_index(op.f("ix_auth_api_tokens_user_id"), "auth_api_tokens", ["user_id"])
    op.create_table(
        "auth_group_permissions",
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("permission_id", sa.Integer(), nullable=False),
        _fk("auth_group_permissions", "group_id", "auth_groups"),
        _fk("auth_group_permissions", "permission_id", "auth_permissions"),
        sa.PrimaryKeyConstraint(
            "group_id", "permission_id", name=op.f("pk_auth_group_permissions")
        ),
    )
    op.create_table(
        "auth_refresh_tokens",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("family", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("scopes", sa.String(length=1000), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("expires_at", _WHEN, nullable=False),
        sa.Column("used_at", _WHEN, nullable=True),
        sa.Column("revoked_at", _WHEN, nullable=True),
        _fk("auth_refresh_tokens", "user_id", "auth_users"),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_auth_refresh_tokens")),
    )
    op.create_index("ix_auth_refresh_tokens_family", "auth_refresh_tokens", ["family"])
    op.create_index(op.f("ix_auth_refresh_tokens_user_id"), "auth_refresh_tokens", ["user_id"])
    op.create_table(
        "auth_user_groups",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        _fk("auth_user_groups", "group_id", "auth_groups"),
        _fk("auth_user_groups", "user_id", "auth_users"),
        sa.PrimaryKeyConstraint("user_id", "group_id", name=op.f("pk_auth_user_groups")),
    )
    op.create_table(
        "auth_user_permissions",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("permission_id", sa.Integer(), nullable=False),
        _fk("auth_user_permissions", "permission_id", "auth_permissions"),
        _fk("auth_user_permissions", "user_id", "auth_users"),
        sa.PrimaryKeyConstraint("user_id", "permission_id", name=op.f("pk_auth_user_permissions")),
    )


def downgrade() -> None:
    for table in (
        "auth_user_permissions",
        "auth_user_groups",
        "auth_refresh_tokens",
        "auth_group_permissions",
        "auth_api_tokens",
        "auth_users",
        "auth_permissions",
        "auth_groups",
    ):
        op.drop_table(table)
