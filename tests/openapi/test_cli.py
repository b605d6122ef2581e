"""``keel openapi module:app [--yaml] [-o FILE]``."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from keel.cli import main
from tests.openapi import full_app

TARGET = "tests.openapi.full_app:app"


def test_prints_json() -> None:
    result = CliRunner().invoke(main, ["openapi", TARGET])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == json.loads(json.dumps(full_app.app.openapi()))


def test_prints_yaml() -> None:
    result = CliRunner().invoke(main, ["openapi", TARGET, "--yaml"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("openapi: 3.1.0\n")
    assert yaml.safe_load(result.stdout) == json.loads(json.dumps(full_app.app.openapi()))


def test_writes_a_file(tmp_path: Path) -> None:
    out = tmp_path / "openapi.yaml"
    result = CliRunner().invoke(main, ["openapi", TARGET, "--yaml", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert yaml.safe_load(out.read_text(encoding="utf-8"))["info"]["title"] == "Full test API"


def test_listed_in_help_and_rejects_non_apps() -> None:
    runner = CliRunner()
    assert "openapi" in runner.invoke(main, ["--help"]).stdout
    result = runner.invoke(main, ["openapi", "tests.openapi.full_app:Item"])
    assert result.exit_code == 2
    assert "is the class Item, not a keel App" in result.output
    missing = runner.invoke(main, ["openapi", "tests.openapi.nope:app"])
    assert missing.exit_code == 2
    assert "there is no module 'tests.openapi.nope'" in missing.output
