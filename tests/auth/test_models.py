"""Users, passwords and the tables: normalisation, validators, rehash, migrations, custom models."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner

import keel.auth.passwords as passwords
from keel.auth import (
    AbstractUser,
    InvalidIdentifier,
    PasswordError,
    User,
    authenticate,
    create_user,
    normalize_email,
    validate_password,
)
from keel.db.cli import db as db_cli
from keel.db.testing import TestSession

from .conftest import PASSWORD


def test_normalize_email() -> None:
    assert normalize_email("  Ada.Lovelace@EXAMPLE.Org ") == "Ada.Lovelace@example.org"
    for bad in ("", "ada", "@example.com", "ada@", "a b@example.com", "ada@example"):
        with pytest.raises(InvalidIdentifier):
            normalize_email(bad)


def test_validators() -> None:
    validate_password("correct-horse-battery", ["ada@example.com"])
    cases = {
        "short": "too short",
        "123456789012": "entirely numeric",
        "Password2024": "too common",
        "qwertyuiop": "too common",
        "lovelace1": "too similar",
    }
    for password, words in cases.items():
        with pytest.raises(PasswordError) as info:
            validate_password(password, ["lovelace1@example.com", "ada"])
        assert any(words in p for p in info.value.problems), (password, info.value.problems)
    with pytest.raises(PasswordError) as info:
        validate_password("1234")
    assert len(info.value.problems) == 2  # every broken rule is reported
    validate_password("1234", validators=[])  # no rules, no problem


def test_common_list_is_bundled() -> None:
    common = passwords._common()
    assert 1000 <= len(common) <= 20000
    assert "password123" in common and "iloveyou" in common


def test_create_user_requires_an_identifier(db_session: TestSession) -> None:
    with pytest.raises(InvalidIdentifier, match="email or a username"):
        db_session.run(create_user(db_session.session, password=PASSWORD))
    with pytest.raises(InvalidIdentifier, match="username"):
        db_session.run(create_user(db_session.session, username="has space"))
    user: AbstractUser = db_session.run(
        create_user(db_session.session, username="ada_l", password=PASSWORD)
    )
    assert isinstance(user, User) and user.email is None and user.identifier == "ada_l"
    assert user.password.startswith("$argon2id$")
    assert db_session.run(authenticate(db_session.session, "ada_l", PASSWORD)) is user
    db_session.run(create_user(db_session.session, username="robot"))
    assert db_session.run(authenticate(db_session.session, "robot", "")) is None


def test_superuser_is_staff(db_session: TestSession) -> None:
    root: AbstractUser = db_session.run(
        create_user(db_session.session, email="r@example.com", password=PASSWORD, is_superuser=True)
    )
    assert root.is_staff and root.is_superuser


def test_rehash_on_login_when_parameters_change(
    db_session: TestSession, make_user: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    user: Any = make_user()
    old = user.password
    monkeypatch.setattr(passwords, "hasher", PasswordHasher(time_cost=4, memory_cost=16384))
    found = db_session.run(authenticate(db_session.session, "ada@example.com", PASSWORD))
    assert found is not None and found.id == user.id
    assert user.password != old and "t=4" in user.password
    again = user.password
    db_session.run(authenticate(db_session.session, "ada@example.com", PASSWORD))
    assert user.password == again  # current parameters: left alone


def test_unknown_user_costs_a_password_check(
    db_session: TestSession, make_user: Callable[..., Any]
) -> None:
    make_user()

    def timed(identifier: str) -> float:
        start = time.perf_counter()
        for _ in range(5):
            assert db_session.run(authenticate(db_session.session, identifier, "wrong")) is None
        return time.perf_counter() - start

    timed("nobody@example.com")  # the dummy hash is made once
    known, unknown = timed("ada@example.com"), timed("nobody@example.com")
    assert unknown > known * 0.5  # both do one argon2 verification (no early return)


def test_keel_db_migrate_creates_the_auth_tables_from_keels_own_scripts(
    tmp_path: Path, fresh_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = f"keel_auth_mig_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(
        textwrap.dedent(
            f"""
            from keel import App
            from keel.auth import Auth
            from keel.db import Database

            app = App()
            db = Database({fresh_database_url!r}, migrations={str(tmp_path / "migrations")!r})
            db.init_app(app)
            Auth().init_app(app)
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    outputs = []
    try:
        steps = (["init"], ["migrate"], ["makemigrations", "-m", "app"], ["migrate"], ["check"])
        for args in steps:
            result = runner.invoke(db_cli, ["--app", f"{module}:app", *args])
            assert result.exit_code == 0, (args, result.output, result.exception)
            outputs.append(result.output)
    finally:
        sys.modules.pop(module, None)
    assert "Database at keel_" in outputs[1]  # the first migrate applied keel's scripts
    for script in (tmp_path / "migrations" / "versions").glob("*.py"):
        text = script.read_text()  # keel's tables are never in the app's scripts
        assert "create_table('auth_users'" not in text
        assert "create_table('auth_groups'" not in text


CUSTOM = """
import asyncio
from sqlalchemy.orm import Mapped, mapped_column
from keel.auth import USER_TABLE, AbstractUser, Auth, authenticate, create_user
from keel.db import Database, Model


class Member(AbstractUser, Model):
    __tablename__ = USER_TABLE
    bio: Mapped[str | None] = mapped_column(default=None)


auth = Auth(user_model=Member)


async def main() -> None:
    from sqlalchemy.orm import configure_mappers

    configure_mappers()
    async with Database("sqlite+aiosqlite:///{path}") as db:
        await db.create_all()
        async with db.session() as session:
            member = await create_user(
                session, email="m@example.com", password="a-fine-passphrase", bio="hi"
            )
            assert type(member) is Member, type(member)
            found = await authenticate(session, "m@example.com", "a-fine-passphrase")
            assert isinstance(found, Member) and found.bio == "hi"
    print("ok")


asyncio.run(main())
"""


def test_a_custom_user_model(tmp_path: Path) -> None:
    # A separate process: the custom model adds a column to the shared auth_users table.
    source = CUSTOM.format(path=tmp_path / "custom.db")
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", source],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stdout.strip() == "ok", result.stderr


def test_import_keel_does_not_import_auth() -> None:
    code = "import sys, keel; print('keel.auth' in sys.modules, 'jwt' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
    code = "import sys, keel.auth; print('jwt' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"  # PyJWT is imported only in JWT mode
