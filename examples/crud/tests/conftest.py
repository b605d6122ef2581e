"""The example's test setup: how a keel project tests against its database.

Run from the repository root: ``python -m pytest examples/crud/tests``.

``keel.db.testing`` never touches the database the app is configured with
(``KEEL_DATABASE_URL`` or ``./app.db``): it creates a test database beside it (a
temporary SQLite file, or a new database on the same PostgreSQL server), applies
the migrations there once, and drops it when the run ends. Each test then runs
in a transaction that is rolled back.
"""

from __future__ import annotations

import pytest

from keel import App

pytest_plugins = ["keel.db.testing"]


@pytest.fixture
def app() -> App:
    """The app under test."""
    from examples.crud.app import app

    return app
