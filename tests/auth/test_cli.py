"""``keel createsuperuser``, ``keel changepassword``, ``keel token`` on a real database."""

from __future__ import annotations

import asyncio
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from keel.auth import authenticate
from keel.auth.cli import changepassword, createsuperuser, token
from keel.cli import main
from keel.db import Database

PROJECT = """
from keel import App
from keel.auth import Auth
from keel.db import Database

app = App()
db = Database({url!r})
db.init_app(app)
auth = Auth(secret_key="cli-test-" + "s" * 40)
auth.init_app(app)
"""


@pytest.fixture
def project(
    tmp_path: Path, fresh_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    module = f"keel_auth_cli_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(PROJECT.format(url=fresh_database_url)))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)

    async def create() -> None:
        async with Database(fresh_database_url) as database:
            await database.create_all()

    asyncio.run(create())
    yield f"{module}:app"
    sys.modules.pop(module, None)


def ok(result: Result) -> str:
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def can_log_in(url: str, identifier: str, password: str) -> bool:
    async def check() -> bool:
        async with Database(url) as database, database.session() as session:
            user = await authenticate(session, identifier, password)
            return user is not None and user.is_superuser and user.is_staff

    return asyncio.run(check())


def test_createsuperuser_without_input(
    project: str, fresh_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    missing = runner.invoke(createsuperuser, ["--app", project, "--email", "a@x.io", "--no-input"])
    assert missing.exit_code == 2 and "KEEL_SUPERUSER_PASSWORD" in missing.output
    monkeypatch.setenv("KEEL_SUPERUSER_PASSWORD", "a-long-admin-passphrase")
    args = ["--app", project, "--email", "Root@Example.COM", "--no-input"]
    assert "Superuser Root@example.com created." in ok(runner.invoke(createsuperuser, args))
    again = runner.invoke(createsuperuser, args)
    assert again.exit_code == 1 and "exists already" in again.output
    assert can_log_in(fresh_database_url, "Root@example.com", "a-long-admin-passphrase")
    monkeypatch.setenv("KEEL_SUPERUSER_PASSWORD", "123")
    weak = runner.invoke(createsuperuser, ["--app", project, "--email", "b@x.io", "--no-input"])
    assert weak.exit_code == 1 and "too short" in weak.output


def test_createsuperuser_interactive_and_changepassword(
    project: str, fresh_database_url: str
) -> None:
    runner = CliRunner()
    typed = "boss@example.com\nabc\nabc\ny\n"  # a weak password, confirmed anyway
    output = ok(runner.invoke(createsuperuser, ["--app", project], input=typed))
    assert "too short" in output and "Superuser boss@example.com created." in output
    assert can_log_in(fresh_database_url, "boss@example.com", "abc")
    changed = runner.invoke(
        changepassword,
        ["--app", project, "boss@example.com"],
        input="fresh-new-passphrase\nfresh-new-passphrase\n",
    )
    assert "Password changed" in ok(changed)
    assert can_log_in(fresh_database_url, "boss@example.com", "fresh-new-passphrase")
    unknown = runner.invoke(changepassword, ["--app", project, "nobody@example.com"])
    assert unknown.exit_code == 1 and "no user" in unknown.output


def test_tokens_from_the_command_line(
    project: str, fresh_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    monkeypatch.setenv("KEEL_SUPERUSER_PASSWORD", "a-long-admin-passphrase")
    ok(runner.invoke(createsuperuser, ["--app", project, "--email", "ci@x.io", "--no-input"]))
    created = ok(
        runner.invoke(
            token, ["create", "--app", project, "ci@x.io", "--name", "deploy", "--scope", "read"]
        )
    )
    secret = created.strip().splitlines()[-1]
    assert len(secret) >= 40
    listed = ok(runner.invoke(token, ["list", "--app", project, "ci@x.io"]))
    assert "deploy\tread" in listed and "active" in listed and secret not in listed
    token_id = listed.split("\t")[0]
    assert "revoked" in ok(runner.invoke(token, ["revoke", "--app", project, token_id]))
    assert "revoked" in ok(runner.invoke(token, ["list", "--app", project, "ci@x.io"]))
    again = runner.invoke(token, ["revoke", "--app", project, token_id])
    assert again.exit_code == 1 and "no active token" in again.output
    nobody = runner.invoke(token, ["create", "--app", project, "nobody@x.io"])
    assert nobody.exit_code == 1


def test_commands_are_registered() -> None:
    result = CliRunner().invoke(main, ["--help"])
    for name in ("createsuperuser", "changepassword", "token"):
        assert name in result.output
