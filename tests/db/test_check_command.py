"""``keel check`` runs the database's start-up check: migrations applied, models matching."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from keel.cli import main

from .test_migrations import MODELS_V2_EXTRA, Project, ok


@pytest.fixture
def proj(tmp_path: Path, fresh_database_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    made = Project(tmp_path, fresh_database_url)
    yield made
    sys.modules.pop(made.module, None)


def test_check_reports_the_database_state(proj: Project) -> None:
    def check() -> Any:
        sys.modules.pop(proj.module, None)
        return CliRunner().invoke(main, ["check", f"{proj.module}:app"])

    no_folder = check()
    assert no_folder.exit_code == 0, no_folder.output
    assert "OK: database: no migrations folder" in no_folder.output
    ok(proj.cli("init"))
    no_scripts = check()
    assert no_scripts.exit_code == 1
    assert "add_table authors" in no_scripts.output
    ok(proj.cli("makemigrations", "-m", "initial"))
    pending = check()
    assert pending.exit_code == 1
    assert "ERROR: database: the database is at no revision" in pending.output
    assert "keel db migrate" in pending.output
    ok(proj.cli("migrate"))
    passed = check()
    assert passed.exit_code == 0, passed.output
    assert "OK: database: the database is at the latest migration" in passed.output
    proj.write(MODELS_V2_EXTRA)
    changed = check()
    assert changed.exit_code == 1
    assert "the models have changes no migration covers" in changed.output
