"""Migrations: Alembic underneath, with an environment keel provides (no env.py to write).

The migration scripts live in ``<migrations>/versions/`` of the project; the
Alembic environment and script template ship inside keel. Every function here
is synchronous (called inside a running event loop, it does its work in a worker
thread), except ``check_database`` which the app awaits at startup.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

from keel.db.branches import branches_for

if TYPE_CHECKING:
    from alembic.runtime.environment import EnvironmentContext

    from keel.db.database import Database
    from keel.db.lint import LintWarning

__all__ = [
    "MigrationError",
    "MigrationState",
    "alembic_config",
    "applied",
    "check",
    "check_database",
    "current",
    "downgrade",
    "history",
    "init",
    "lint",
    "lint_script",
    "make_migrations",
    "migrate",
    "pending",
    "run_env",
    "stamp",
]

T = TypeVar("T")

_ENV_DIR = Path(__file__).with_name("_alembic")
_FILE_TEMPLATE = "%%(year)d_%%(month).2d_%%(day).2d_%%(hour).2d%%(minute).2d-%%(rev)s_%%(slug)s"
_README = """\
Database migrations, managed by keel (Alembic underneath).

    keel db makemigrations -m "add books"   # write a script from the model changes
    keel db migrate                         # apply every script not yet applied
    keel db downgrade                       # undo the last one
    keel db history / keel db current / keel db check

Review each generated script in versions/ before committing it.
"""


class MigrationError(RuntimeError):
    """The database and the migrations (or the models) disagree."""


@dataclass(frozen=True)
class MigrationState:
    """Where a database stands against its migrations and models.

    Attributes:
        current: the revisions applied to the database.
        heads: the latest revisions of the migrations folder.
        diffs: the schema changes the models have that the database lacks.
    """

    current: tuple[str, ...]
    heads: tuple[str, ...]
    diffs: tuple[Any, ...]

    @property
    def up_to_date(self) -> bool:
        """True when the database is at the heads and matches the models."""
        return set(self.current) == set(self.heads) and not self.diffs

    def problem(self) -> str | None:
        """A sentence saying what is wrong and how to fix it, or None."""
        if set(self.current) != set(self.heads):
            at = ", ".join(self.current) or "no revision (empty)"
            head = ", ".join(self.heads) or "no migrations"
            return (
                f"the database is at {at} but the migrations head is {head}: run `keel db migrate`"
            )
        if self.diffs:
            shown = "; ".join(_describe(d) for d in self.diffs[:5])
            more = f" (+{len(self.diffs) - 5} more)" if len(self.diffs) > 5 else ""
            return (
                f"the models have changes no migration covers: {shown}{more}: "
                'run `keel db makemigrations -m "..."` then `keel db migrate`'
            )
        return None


def alembic_config(database: Database, **attributes: Any) -> Config:
    """The Alembic ``Config`` for ``database`` (keel's env, the project's versions folder)."""
    config = Config()
    config.set_main_option("script_location", str(_ENV_DIR))
    config.set_main_option("path_separator", "os")
    shipped = [str(b.folder) for b in branches_for(database.metadata)]
    locations = [str(_versions(database)), *shipped]
    config.set_main_option("version_locations", os.pathsep.join(locations))
    config.set_main_option("file_template", _FILE_TEMPLATE)
    config.set_main_option("truncate_slug_length", "40")
    config.attributes["database"] = database
    config.attributes.update(attributes)
    return config


def _versions(database: Database) -> Path:
    return database.migrations / "versions"


def _require_folder(database: Database) -> None:
    if not _versions(database).is_dir():
        raise MigrationError(
            f"no migrations folder at {database.migrations}: run `keel db init` first"
        )


def init(database: Database) -> Path:
    """Create the migrations folder (``migrations/versions/``); returns its path."""
    versions = _versions(database)
    if versions.is_dir():
        raise MigrationError(f"{database.migrations} is already a migrations folder")
    versions.mkdir(parents=True)
    (database.migrations / "README").write_text(_README)
    return database.migrations


def make_migrations(database: Database, message: str, *, autogenerate: bool = True) -> Path | None:
    """Write a migration script from the difference between the models and the database.

    The database must be at the latest migration (``migrate`` first).

    Args:
        database: the database.
        message: what the migration does; it names the file.
        autogenerate: compare models and database (``False`` writes an empty script).

    Returns:
        The new script's path, or None when nothing changed.
    """
    _require_folder(database)
    if autogenerate:
        state = _state(database)
        if set(state.current) != set(state.heads):
            raise MigrationError(state.problem())
    config = alembic_config(database, skip_empty=autogenerate)
    scripts = ScriptDirectory.from_config(config)
    app_heads = _app_heads(database, scripts)
    if len(app_heads) > 1:
        raise MigrationError(
            f"the migrations folder has {len(app_heads)} heads ({', '.join(app_heads)}): "
            "merge them first (alembic merge) so new scripts have one parent"
        )
    # The app's scripts depend on the shipped branches' heads: their tables exist first.
    shipped = [h for h in scripts.get_heads() if h not in app_heads]
    result = command.revision(
        config,
        message=message,
        autogenerate=autogenerate,
        head=app_heads[0] if app_heads else "base",
        version_path=str(_versions(database)),
        depends_on=shipped or None,  # type: ignore[arg-type]  # Alembic takes a list too
    )
    written = [s for s in (result if isinstance(result, list) else [result]) if s is not None]
    return Path(written[0].path) if written else None


def _app_heads(database: Database, scripts: ScriptDirectory) -> list[str]:
    """The heads among the project's own scripts (not a battery's shipped branch)."""
    folder = _versions(database).resolve()
    heads: list[str] = []
    for head in scripts.get_heads():
        script = scripts.get_revision(head)
        if script is not None and Path(script.path).resolve().parent == folder:
            heads.append(head)
    return heads


def migrate(database: Database, revision: str = "heads", *, sql: bool = False) -> None:
    """Apply migrations up to ``revision`` (all of them by default).

    ``"head"`` means every head too: the app's scripts and the branches batteries ship.
    With ``sql=True`` print the SQL instead of running it.
    """
    _require_folder(database)
    config = alembic_config(database)
    if revision in ("head", "heads"):
        # The shipped branches first, one at a time in the order they were registered (a
        # battery registers after those it builds on): Alembic's walk over several
        # inter-dependent branches at once can lose track of a head it just replaced.
        for branch in branches_for(database.metadata, ordered="registration"):
            command.upgrade(config, f"{branch.label}@head", sql=sql)
        # then each of the app's own heads (never "heads" again, for the same reason)
        for head in _app_heads(database, ScriptDirectory.from_config(config)):
            command.upgrade(config, head, sql=sql)
        return
    command.upgrade(config, revision, sql=sql)


def downgrade(database: Database, revision: str = "-1", *, sql: bool = False) -> None:
    """Undo migrations down to ``revision`` (the app's last one by default; ``base`` for all).

    A relative ``-N`` counts along the app's own scripts, never into a battery's branch.
    """
    _require_folder(database)
    config = alembic_config(database)
    if revision.startswith("-") and revision[1:].isdigit():
        app_heads = _app_heads(database, ScriptDirectory.from_config(config))
        if len(app_heads) == 1:
            revision = f"{app_heads[0]}@{revision}"
    command.downgrade(config, revision, sql=sql)


def stamp(database: Database, revision: str) -> None:
    """Record ``revision`` as applied without running anything (tables that already exist).

    ``stamp(db, "keel_auth@head")`` adopts keel.auth's tables that an older script of the
    app created itself.
    """
    _require_folder(database)
    command.stamp(alembic_config(database), revision)


def history(database: Database) -> list[Script]:
    """The migration scripts (the app's and the shipped branches'), oldest first."""
    _require_folder(database)
    scripts = ScriptDirectory.from_config(alembic_config(database))
    return list(reversed(list(scripts.walk_revisions())))


def applied(database: Database) -> set[str]:
    """The revisions applied to the database: its current heads and everything below them."""
    scripts = ScriptDirectory.from_config(alembic_config(database))
    heads = current(database)
    if not heads:
        return set()
    return {s.revision for s in scripts.iterate_revisions(heads, "base")}


def current(database: Database) -> tuple[str, ...]:
    """The revisions the database is at (empty before the first migration)."""
    return _state(database).current


def check(database: Database) -> MigrationState:
    """Compare the database with the migrations and the models (``keel db check``)."""
    _require_folder(database)
    return _state(database)


def pending(database: Database) -> list[Script]:
    """The scripts the database has not applied yet, oldest first."""
    _require_folder(database)
    applied = set(current(database))
    scripts = ScriptDirectory.from_config(alembic_config(database))
    done: set[str] = set()
    for revision in applied:
        for script in scripts.iterate_revisions(revision, "base"):
            done.add(script.revision)
    return [s for s in reversed(list(scripts.walk_revisions())) if s.revision not in done]


def lint_script(database: Database, script: Script) -> list[LintWarning]:
    """The unsafe operations of one migration script (see :mod:`keel.db.lint`)."""
    from keel.db.lint import lint_operations, record_operations

    upgrade = getattr(script.module, "upgrade", None)
    if upgrade is None:
        return []
    operations = record_operations(upgrade, database.dialect)
    return lint_operations(
        operations,
        dialect=database.dialect,
        metadata=database.metadata,
        revision=script.revision,
    )


def lint(database: Database, path: Path | None = None) -> list[LintWarning]:
    """Lint the script at ``path``, or every script not yet applied to the database."""
    _require_folder(database)
    if path is None:
        scripts = pending(database)
    else:
        directory = ScriptDirectory.from_config(alembic_config(database))
        wanted = Path(path).resolve()
        scripts = [s for s in directory.walk_revisions() if Path(s.path).resolve() == wanted]
    return [warning for script in scripts for warning in lint_script(database, script)]


def _state(database: Database) -> MigrationState:
    async def run() -> MigrationState:
        engine = database.create_engine(poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(_compare, database)
        finally:
            await engine.dispose()

    return _run(run)


def _run(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion, in a worker thread when a loop is already running."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    with ThreadPoolExecutor(1, thread_name_prefix="keel-migrations") as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


async def check_database(database: Database) -> None:
    """Raise ``MigrationError`` unless the database is at the latest migration and matches
    the models (run at startup when ``check_migrations`` is on)."""
    async with database.engine.connect() as conn:
        state = await conn.run_sync(_compare, database)
    problem = state.problem()
    if problem is not None:
        raise MigrationError(f"{database!r}: {problem}")


def _compare(connection: Connection, database: Database) -> MigrationState:
    context = MigrationContext.configure(connection, opts=_context_options(database))
    # a head another head depends on is not kept in the version table: leave it out
    scripts = ScriptDirectory.from_config(alembic_config(database))
    heads = scripts.get_heads(consider_depends_on=True)
    current_heads = context.get_current_heads()
    diffs: list[Any] = []
    if set(current_heads) == set(heads):
        diffs = compare_metadata(context, database.metadata)
    return MigrationState(tuple(current_heads), tuple(heads), tuple(diffs))


def _describe(diff: Any) -> str:
    if isinstance(diff, list):  # column modifications come grouped
        return ", ".join(_describe(d) for d in diff)
    kind = diff[0]
    names = [getattr(item, "name", None) for item in diff[1:]]
    target = ".".join(str(n) for n in names if isinstance(n, str))
    return f"{kind} {target}".strip()


def _context_options(database: Database) -> dict[str, Any]:
    return {
        "target_metadata": database.metadata,
        "render_as_batch": database.is_sqlite,
        "compare_type": True,
        "render_item": _render_item,
    }


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Render keel's column types as their plain SQLAlchemy type in scripts."""
    if type_ == "type" and isinstance(obj, TypeDecorator):
        impl = obj.impl_instance
        if type(impl).__module__.startswith("sqlalchemy."):
            return f"sa.{impl!r}"
    return False


def _skip_empty(context: Any, revision: Any, directives: list[Any]) -> None:
    if directives and directives[0].upgrade_ops.is_empty():
        directives[:] = []


def run_env(context: EnvironmentContext) -> None:
    """Run migrations inside Alembic's environment (what an env.py would do)."""
    config = context.config
    database: Database = config.attributes["database"]
    options = _context_options(database)
    if config.attributes.get("skip_empty"):
        options["process_revision_directives"] = _skip_empty
    if context.is_offline_mode():
        url = database.url.render_as_string(hide_password=False)
        context.configure(url=url, literal_binds=True, **options)
        with context.begin_transaction():
            context.run_migrations()
        return

    def run(connection: Connection) -> None:
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = database.create_engine(poolclass=NullPool, sqlite_foreign_keys=False)
        try:
            async with engine.connect() as conn:
                await conn.run_sync(run)
                await conn.commit()
        finally:
            await engine.dispose()

    _run(run_async)
