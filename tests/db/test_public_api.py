"""The public surface of keel.db."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import keel.db


def test_all_is_sorted_and_complete() -> None:
    assert keel.db.__all__ == sorted(keel.db.__all__)
    for name in keel.db.__all__:
        assert getattr(keel.db, name) is not None
    public = {n for n in vars(keel.db) if not n.startswith("_") and n[0].isupper()}
    assert public - {"TYPE_CHECKING"} <= set(keel.db.__all__)


def test_import_stays_light_and_the_core_never_imports_the_battery() -> None:
    code = (
        "import sys, keel, keel.testing;"
        "assert 'keel.db' not in sys.modules, 'the core imported keel.db';"
        "import keel.db;"
        "heavy = [m for m in ('alembic', 'keel.db.migrations', 'keel.db.testing', 'asyncpg')"
        " if m in sys.modules];"
        "assert not heavy, heavy"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=False
    )
    assert result.returncode == 0, result.stderr


def test_cli_entry_point_is_a_click_group() -> None:
    import click

    from keel.db.cli import db

    assert isinstance(db, click.Group)
    assert {"init", "makemigrations", "migrate", "downgrade", "history", "current", "check"} <= set(
        db.commands
    )
