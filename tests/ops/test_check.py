"""``keel check`` without ``--deploy``: the start-up checks, run on demand."""

from __future__ import annotations

import asyncio

from click.testing import CliRunner

from keel import App
from keel.checks import startup_findings
from keel.cli import main


def test_a_healthy_app_passes() -> None:
    app = App()
    app.health()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    findings = asyncio.run(startup_findings(app))
    assert [(f.level, f.setting) for f in findings] == [("ok", "routes")]
    assert "route(s) and 0 websocket route(s) compiled" in findings[0].message


def test_two_routes_for_one_template_fail_the_build() -> None:
    app = App()

    @app.get("/a")
    async def one() -> None:
        return None

    @app.get("/a")
    async def two() -> None:
        return None

    findings = asyncio.run(startup_findings(app))
    assert [(f.level, f.setting) for f in findings] == [("error", "build")]


def test_a_failing_readiness_check_fails() -> None:
    app = App()

    def database_down() -> bool:
        return False

    app.health().add_check("upstream", database_down)
    findings = asyncio.run(startup_findings(app))
    assert ("error", "readyz:upstream") in [(f.level, f.setting) for f in findings]


def test_cli_exit_status() -> None:
    result = CliRunner().invoke(main, ["check", "examples.hello:app"])
    assert result.exit_code == 0, result.output
    assert "The start-up checks passed." in result.output
