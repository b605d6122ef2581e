"""Alembic environment for keel: the logic lives in ``keel.db.migrations.run_env``."""

from alembic import context

from keel.db.migrations import run_env

run_env(context)
