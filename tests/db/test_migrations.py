"""Migrations end to end through `keel db ...`, on a fresh SQLite file and PostgreSQL database."""

from __future__ import annotations

import asyncio
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import inspect
from sqlalchemy.pool import NullPool

from keel.db import Database
from keel.db import migrations as m
from keel.db.cli import db as db_cli
from keel.testing import TestClient

MODELS_V1 = """
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from keel import App
from keel.db import TYPE_ANNOTATION_MAP, Database, IntPK, Timestamps, new_metadata


class Base(DeclarativeBase):
    metadata = new_metadata()
    type_annotation_map = TYPE_ANNOTATION_MAP


class Author(IntPK, Timestamps, Base):
    __tablename__ = "authors"
    name: Mapped[str] = mapped_column(String(50), unique=True)

{extra}

app = App()
db = Database({url!r}, metadata=Base.metadata, migrations={migrations!r})
db.init_app(app)
"""

MODELS_V2_EXTRA = """
from sqlalchemy import ForeignKey


class Book(IntPK, Base):
    __tablename__ = "books"
    title: Mapped[str] = mapped_column(String(200))
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id"), index=True)


Author.__table__.append_column(
    __import__("sqlalchemy").Column("bio", String(500), nullable=True)
)
"""


def schema_of(url: str) -> dict[str, set[str]]:
    """Table name -> column names, as the database has them."""

    async def read() -> dict[str, set[str]]:
        engine = Database(url).create_engine(poolclass=NullPool)
        try:
            async with engine.connect() as conn:

                def tables(sync_conn: Any) -> dict[str, set[str]]:
                    insp = inspect(sync_conn)
                    return {
                        t: {c["name"] for c in insp.get_columns(t)} for t in insp.get_table_names()
                    }

                return await conn.run_sync(tables)
        finally:
            await engine.dispose()

    return asyncio.run(read())


class Project:
    """A throwaway project folder with a models module the CLI imports."""

    def __init__(self, root: Path, url: str) -> None:
        self.root = root
        self.url = url
        self.module = f"keel_db_proj_{uuid.uuid4().hex[:8]}"
        self.migrations = str(root / "migrations")
        self.write("")

    def write(self, extra: str) -> None:
        source = MODELS_V1.format(extra=extra, url=self.url, migrations=self.migrations)
        (self.root / f"{self.module}.py").write_text(textwrap.dedent(source))
        sys.modules.pop(self.module, None)

    def cli(self, *args: str) -> Result:
        return CliRunner().invoke(db_cli, ["--app", f"{self.module}:app", *args])


@pytest.fixture
def project(tmp_path: Path, fresh_database_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    proj = Project(tmp_path, fresh_database_url)
    yield proj
    sys.modules.pop(proj.module, None)


def ok(result: Result) -> str:
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def test_end_to_end(project: Project) -> None:
    url = project.url
    assert "Created" in ok(project.cli("init"))
    assert project.cli("init").exit_code == 1  # already there

    out = ok(project.cli("makemigrations", "-m", "initial"))
    assert "Wrote" in out
    assert len(list((project.root / "migrations" / "versions").glob("*_initial.py"))) == 1
    assert set(schema_of(url)) <= {"alembic_version"}
    assert project.cli("check").exit_code == 1

    ok(project.cli("migrate"))
    tables = schema_of(url)
    assert tables["authors"] == {"id", "name", "created_at", "updated_at"}
    assert "Database, migrations and models agree" in ok(project.cli("check"))
    assert "No changes detected" in ok(project.cli("makemigrations", "-m", "nothing"))
    first = ok(project.cli("current")).strip()

    project.write(MODELS_V2_EXTRA)  # change the models
    check = project.cli("check")
    assert check.exit_code == 1
    assert "makemigrations" in check.output
    ok(project.cli("makemigrations", "-m", "add books"))
    ok(project.cli("migrate"))
    tables = schema_of(url)
    assert tables["books"] == {"id", "title", "author_id"}
    assert "bio" in tables["authors"]
    history = ok(project.cli("history")).splitlines()
    assert len(history) == 2
    assert all(line.startswith("*") for line in history)

    ok(project.cli("downgrade"))
    tables = schema_of(url)
    assert "books" not in tables
    assert tables["authors"] == {"id", "name", "created_at", "updated_at"}
    assert ok(project.cli("current")).strip() == first
    history = ok(project.cli("history")).splitlines()
    assert [line[0] for line in history] == ["*", " "]

    ok(project.cli("downgrade", "base"))
    assert set(schema_of(url)) <= {"alembic_version"}
    assert "base" in ok(project.cli("current"))


def test_generated_scripts_are_portable(project: Project) -> None:
    ok(project.cli("init"))
    ok(project.cli("makemigrations", "-m", "initial"))
    script = next((project.root / "migrations" / "versions").glob("*.py")).read_text()
    assert "keel.db" not in script  # keel's column types render as plain SQLAlchemy types
    assert "sa.DateTime(timezone=True)" in script
    assert "op.f('uq_authors_name')" in script  # the naming convention names constraints


def test_migrate_sql_prints_without_running(project: Project) -> None:
    ok(project.cli("init"))
    ok(project.cli("makemigrations", "-m", "initial"))
    out = ok(project.cli("migrate", "--sql"))
    assert "CREATE TABLE authors" in out
    assert "authors" not in schema_of(project.url)


def test_startup_refuses_an_unmigrated_database(project: Project) -> None:
    ok(project.cli("init"))
    ok(project.cli("makemigrations", "-m", "initial"))
    module = __import__(project.module)
    module.db.settings.check_migrations = None  # default: on outside debug mode
    with pytest.raises(m.MigrationError, match="keel db migrate"), TestClient(module.app):
        pass
    ok(project.cli("migrate"))
    with TestClient(module.app) as client:
        assert client.get("/nowhere").status_code == 404


def test_debug_mode_skips_the_startup_check(project: Project) -> None:
    ok(project.cli("init"))
    ok(project.cli("makemigrations", "-m", "initial"))  # pending: the check would refuse it
    module = __import__(project.module)
    module.db.settings.check_migrations = None  # default: on outside debug mode
    module.app.debug = True
    with TestClient(module.app) as client:  # starts and serves, unmigrated
        assert client.get("/nowhere").status_code == 404
    assert not m.current(module.db)  # the check did not migrate anything either
    assert set(schema_of(project.url)) <= {"alembic_version"}
    module.app.debug = False  # the same app outside debug mode refuses to start
    with pytest.raises(m.MigrationError, match="keel db migrate"), TestClient(module.app):
        pass


def test_functions_work_inside_a_running_loop(project: Project) -> None:
    ok(project.cli("init"))
    database = __import__(project.module).db
    assert m.make_migrations(database, "initial") is not None

    async def inside() -> tuple[str, ...]:
        m.migrate(database)
        return m.current(database)

    assert len(asyncio.run(inside())) == 1


def test_errors_are_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(db_cli, ["current"])
    assert result.exit_code == 2
    assert "--app" in result.output
    result = runner.invoke(db_cli, ["--app", "no_such_module_xyz:app", "current"])
    assert "cannot import" in result.output
    result = runner.invoke(db_cli, ["--app", "keel.db:Model", "current"])
    assert "init_app" in result.output
    (tmp_path / "pyproject.toml").write_text('[tool.keel]\napp = "no_such_module_abc:app"\n')
    assert "no_such_module_abc" in runner.invoke(db_cli, ["current"]).output
    database = Database("sqlite+aiosqlite://", migrations=tmp_path / "missing")
    with pytest.raises(m.MigrationError, match="keel db init"):
        m.migrate(database)
