"""The example's test setup: how a keel project tests against its database.

Run from the repository root: ``python -m pytest examples/crud/tests``.
Set ``KEEL_DATABASE_URL`` to test on PostgreSQL; a temporary SQLite file otherwise.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

pytest_plugins = ["keel.db.testing"]

os.environ.setdefault(
    "KEEL_DATABASE_URL", f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='keel-crud-')}/test.db"
)

from examples.crud.app import app as crud_app  # noqa: E402 - after the URL is set
from examples.crud.app import db  # noqa: E402
from keel import App  # noqa: E402
from keel.db import migrations  # noqa: E402


@pytest.fixture(scope="session")
def migrated() -> Iterator[None]:
    """Build the schema from the migrations, as production does (once per run)."""
    migrations.migrate(db)
    yield
    migrations.downgrade(db, "base")


@pytest.fixture
def db_create_all() -> bool:
    """The tables come from the migrations, not from ``create_all``."""
    return False


@pytest.fixture
def app(migrated: None) -> App:
    """The app under test (``keel.db.testing`` wraps each test in a transaction)."""
    return crud_app
