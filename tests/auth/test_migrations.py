"""keel.auth's shipped migrations (branch ``keel_auth``) beside an app's own history.

On a fresh SQLite file and a fresh PostgreSQL database: the shipped script creates exactly
the tables the models declare (``keel db check`` finds no difference), the app's scripts
depend on it, and the app's own commands (downgrade, history) stay within the app's scripts.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table

import keel.auth  # noqa: F401 - puts the auth tables on Model.metadata
from keel import App
from keel.db import Database, Model
from keel.db import migrations as m
from keel.db.branches import branches_for, register_branch
from keel.db.cli import db as db_cli
from tests.db.conftest import (  # noqa: F401 - fixtures
    _clean_database_env,
    backend,
    fresh_database_url,
    postgres_available,
)
from tests.db.test_migrations import schema_of

AUTH_TABLES = set(next(b for b in branches_for(Model.metadata) if b.label == "keel_auth").tables)


def app_metadata(*, bio: bool = False) -> MetaData:
    """The auth tables plus an app table that points at the users (and maybe a new column)."""
    metadata = MetaData(naming_convention=Model.metadata.naming_convention)
    for name in AUTH_TABLES:
        Model.metadata.tables[name].to_metadata(metadata)
    Table(
        "notes",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("owner_id", ForeignKey("auth_users.id"), nullable=False),
        Column("text", String(200), nullable=False),
    )
    if bio:
        metadata.tables["auth_users"].append_column(Column("bio", String(500), nullable=True))
    return metadata


def database(url: str, folder: Path, metadata: MetaData) -> Database:
    return Database(url, metadata=metadata, migrations=folder)


def test_the_auth_branch_applies_only_to_databases_with_its_tables() -> None:
    assert [b.label for b in branches_for(app_metadata())] == ["keel_auth"]
    assert branches_for(MetaData()) == []


def test_shipped_tables_match_the_models_and_app_scripts_depend_on_them(
    fresh_database_url: str,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    db = database(fresh_database_url, tmp_path / "migrations", app_metadata())
    m.init(db)
    # the app's first script needs the database at every head, the shipped one included
    with pytest.raises(m.MigrationError, match="keel_auth_0001.*keel db migrate"):
        m.make_migrations(db, "notes")
    m.migrate(db)
    assert m.current(db) == ("keel_auth_0001",)
    assert set(schema_of(fresh_database_url)) >= AUTH_TABLES
    script = m.make_migrations(db, "notes")
    assert script is not None
    text = script.read_text()
    assert "create_table('notes'" in text
    assert "create_table('auth_" not in text  # keel's tables come from keel's script
    assert "depends_on: str | Sequence[str] | None = 'keel_auth_0001'" in text
    m.migrate(db)
    state = m.check(db)
    assert state.up_to_date, state.problem()  # the shipped script is exactly the models
    assert m.make_migrations(db, "nothing") is None
    assert m.applied(db) == {"keel_auth_0001", m.current(db)[0]}

    # a column the app adds to the user table is the app's next script
    db = database(fresh_database_url, tmp_path / "migrations", app_metadata(bio=True))
    assert not m.check(db).up_to_date
    script = m.make_migrations(db, "bio")
    assert script is not None
    text = script.read_text()
    assert "add_column(" in text
    assert "sa.Column('bio'" in text
    m.migrate(db)
    assert "bio" in schema_of(fresh_database_url)["auth_users"]
    assert m.check(db).up_to_date

    # downgrade walks back the app's scripts and leaves keel's tables alone
    m.downgrade(db)
    assert "bio" not in schema_of(fresh_database_url)["auth_users"]
    m.downgrade(db)
    tables = set(schema_of(fresh_database_url))
    assert "notes" not in tables
    assert tables >= AUTH_TABLES
    m.downgrade(db, "base")
    assert set(schema_of(fresh_database_url)) <= {"alembic_version"}
    m.migrate(db, "head")  # "head" means every head
    assert {"notes", *AUTH_TABLES} <= set(schema_of(fresh_database_url))
    assert m.check(db).up_to_date


def test_history_marks_both_branches(fresh_database_url: str, tmp_path: Path) -> None:  # noqa: F811
    db = database(fresh_database_url, tmp_path / "migrations", app_metadata())
    app = App()
    db.init_app(app)
    module = type("Module", (), {"app": app})
    sys.modules["keel_auth_history_app"] = module  # type: ignore[assignment]
    try:
        runner = CliRunner()
        args = ["--app", "keel_auth_history_app:app"]
        assert runner.invoke(db_cli, [*args, "init"]).exit_code == 0
        result = runner.invoke(db_cli, [*args, "migrate"])
        assert result.exit_code == 0, result.output
        m.make_migrations(db, "notes")
        lines = runner.invoke(db_cli, [*args, "history"]).output.splitlines()
        assert lines[0].startswith("* keel_auth_0001")
        assert lines[1].startswith("  ") and lines[1].endswith("notes")
        runner.invoke(db_cli, [*args, "migrate"])
        lines = runner.invoke(db_cli, [*args, "history"]).output.splitlines()
        assert all(line.startswith("*") for line in lines)
    finally:
        sys.modules.pop("keel_auth_history_app", None)


def test_stamp_adopts_auth_tables_an_older_history_created(
    fresh_database_url: str,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    metadata = app_metadata()
    db = database(fresh_database_url, tmp_path / "migrations", metadata)
    m.init(db)

    async def create() -> None:
        async with db:
            await db.create_all()  # as an app's own older script would have

    asyncio.run(create())
    with pytest.raises(m.MigrationError, match="keel db migrate"):
        m.make_migrations(db, "app")
    m.stamp(db, "keel_auth@head")
    assert m.current(db) == ("keel_auth_0001",)
    assert m.make_migrations(db, "app") is None  # "notes" exists too: nothing to write


NEXT_RELEASE = '''
"""A later keel release's auth script (the test's own)."""

import sqlalchemy as sa
from alembic import op

revision = "keel_auth_0002"
down_revision = "keel_auth_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("auth_users") as batch:
        batch.add_column(sa.Column("nickname", sa.String(50), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("auth_users") as batch:
        batch.drop_column("nickname")
'''


def test_an_app_upgrades_across_a_keel_release_that_adds_an_auth_script(
    fresh_database_url: str,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    db = database(fresh_database_url, tmp_path / "migrations", app_metadata())
    m.init(db)
    m.migrate(db)
    m.make_migrations(db, "notes")
    m.migrate(db)
    app_head = m.current(db)[0]

    # the new release: keel's folder gains 0002 and the user model a column
    shipped = next(b for b in branches_for(Model.metadata) if b.label == "keel_auth")
    release = tmp_path / "keel_auth_next"
    release.mkdir()
    for script in shipped.folder.glob("*.py"):
        (release / script.name).write_text(script.read_text())
    (release / "keel_auth_0002_nickname.py").write_text(NEXT_RELEASE)
    metadata = app_metadata()
    metadata.tables["auth_users"].append_column(Column("nickname", String(50), nullable=True))
    register_branch("keel_auth", release, shipped.tables)
    try:
        db = database(fresh_database_url, tmp_path / "migrations", metadata)
        state = m.check(db)
        assert not state.up_to_date
        assert "keel db migrate" in (state.problem() or "")
        m.migrate(db)
        assert set(m.current(db)) == {app_head, "keel_auth_0002"}
        assert "nickname" in schema_of(fresh_database_url)["auth_users"]
        assert m.check(db).up_to_date
        assert m.make_migrations(db, "nothing new") is None
        m.downgrade(db)  # the app's last script, not keel's
        assert "notes" not in schema_of(fresh_database_url)
        assert "nickname" in schema_of(fresh_database_url)["auth_users"]
    finally:
        register_branch("keel_auth", shipped.folder, shipped.tables)


def test_the_admin_log_ships_on_its_own_branch_after_auth(
    fresh_database_url: str,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    import keel.admin.models  # noqa: F401 - registers the keel_admin branch

    metadata = app_metadata()
    Model.metadata.tables["admin_log"].to_metadata(metadata)
    db = database(fresh_database_url, tmp_path / "migrations", metadata)
    assert [b.label for b in branches_for(metadata)] == ["keel_admin", "keel_auth"]
    m.init(db)
    m.migrate(db)
    assert set(m.current(db)) == {"keel_admin_0001", "keel_auth_0001"}
    assert {"admin_log", *AUTH_TABLES} <= set(schema_of(fresh_database_url))
    script = m.make_migrations(db, "notes")
    assert script is not None
    assert "create_table('admin_log'" not in script.read_text()
    m.migrate(db)
    state = m.check(db)
    assert state.up_to_date, state.problem()
