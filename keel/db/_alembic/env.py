"""Alembic environment for keel: the logic lives in ``keel.db.migrations.run_env``."""

from typing import cast

from alembic import context
from alembic.runtime.environment import EnvironmentContext

from keel.db.migrations import run_env

run_env(cast(EnvironmentContext, context))
