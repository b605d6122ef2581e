"""``keel db ...``: migration commands (loaded by the core CLI from the ``keel.cli`` entry point).

The commands find the app (and through it the ``Database`` and its models) from
``--app module:attribute``, the ``KEEL_APP`` environment variable, or
``[tool.keel] app = "module:attribute"`` in the project's ``pyproject.toml``.
The attribute may be the ``App`` (after ``db.init_app(app)``) or the ``Database``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from keel.cli import AppLoadError, find_target, load_target
from keel.db import migrations
from keel.db.database import Database

__all__ = [
    "check",
    "current",
    "db",
    "downgrade",
    "find_database",
    "history",
    "init",
    "makemigrations",
    "migrate",
    "stamp",
]

F = TypeVar("F", bound=Callable[..., Any])
_HOW = (
    "pass --app module:app, set KEEL_APP=module:app, or add "
    '[tool.keel] app = "module:app" to pyproject.toml'
)


def find_database(target: str | None) -> Database:
    """Load the app the same way every keel command does and return its ``Database``.

    Args:
        target: ``"package.module:app"`` (the attribute defaults to ``app``), or
            None to read ``KEEL_APP`` / ``[tool.keel] app``.

    Raises:
        click.ClickException: when no app is configured, it cannot be imported, or it
            has no ``Database`` (see :func:`keel.cli.load_target`).
    """
    where = find_target(target, hint=_HOW)
    obj = load_target(where)
    if isinstance(obj, Database):
        return obj
    database = getattr(getattr(obj, "state", None), "database", None)
    if isinstance(database, Database):
        return database
    raise AppLoadError(
        f"{where} has no keel.db Database: call db.init_app(app) in that module, "
        "or point --app at the Database itself"
    )


def _database(ctx: click.Context) -> Database:
    obj = ctx.find_object(dict)
    assert obj is not None
    if "database" not in obj:
        obj["database"] = find_database(obj.get("app"))
    database: Database = obj["database"]
    return database


def _friendly(fn: F) -> F:
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except migrations.MigrationError as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper  # type: ignore[return-value]


@click.group()
@click.option(
    "--app",
    "app",
    metavar="MODULE:ATTR",
    help="The app (or Database) to use; default: KEEL_APP or [tool.keel] app.",
)
@click.pass_context
def db(ctx: click.Context, app: str | None) -> None:
    """Database migrations (Alembic underneath)."""
    ctx.ensure_object(dict)
    ctx.obj["app"] = app


@db.command()
@click.pass_context
@_friendly
def init(ctx: click.Context) -> None:
    """Create the migrations folder."""
    path = migrations.init(_database(ctx))
    click.echo(f"Created {path}/ - now run: keel db makemigrations -m 'initial'")


@db.command()
@click.option("-m", "--message", default="auto", show_default=True, help="What it changes.")
@click.option("--empty", is_flag=True, help="Write an empty script to fill in by hand.")
@click.option(
    "--strict", is_flag=True, help="Unsafe operations are errors: the script is not kept."
)
@click.pass_context
@_friendly
def makemigrations(ctx: click.Context, message: str, empty: bool, strict: bool) -> None:
    """Write a migration script from the changes to the models, and lint it.

    Operations that lock or break a live table are reported with a safe recipe
    (see keel.db.lint); with --strict they are errors and the script is removed.
    """
    database = _database(ctx)
    path = migrations.make_migrations(database, message, autogenerate=not empty)
    if path is None:
        click.echo("No changes detected.")
        return
    warnings = migrations.lint(database, path)
    _show(warnings)
    if warnings and strict:
        path.unlink()
        raise click.ClickException(
            f"{len(warnings)} unsafe operation(s): the script was not kept (--strict)"
        )
    click.echo(f"Wrote {path}: review it, then run: keel db migrate")


def _show(warnings: list[Any]) -> None:
    for warning in warnings:
        click.echo(f"WARNING: {warning}", err=True)


@db.command()
@click.argument("revision", default="heads")
@click.option("--sql", is_flag=True, help="Print the SQL instead of running it.")
@click.pass_context
@_friendly
def migrate(ctx: click.Context, revision: str, sql: bool) -> None:
    """Apply migrations up to REVISION (default: all)."""
    database = _database(ctx)
    migrations.migrate(database, revision, sql=sql)
    if not sql:
        click.echo(f"Database at {', '.join(migrations.current(database)) or 'base'}.")


@db.command()
@click.argument("revision", default="-1")
@click.option("--sql", is_flag=True, help="Print the SQL instead of running it.")
@click.pass_context
@_friendly
def downgrade(ctx: click.Context, revision: str, sql: bool) -> None:
    """Undo migrations down to REVISION (default: the app's last one; 'base' for all)."""
    database = _database(ctx)
    migrations.downgrade(database, revision, sql=sql)
    if not sql:
        click.echo(f"Database at {', '.join(migrations.current(database)) or 'base'}.")


@db.command()
@click.argument("revision")
@click.pass_context
@_friendly
def stamp(ctx: click.Context, revision: str) -> None:
    """Mark REVISION as applied without running it (e.g. keel_auth@head for existing tables)."""
    database = _database(ctx)
    migrations.stamp(database, revision)
    click.echo(f"Database at {', '.join(migrations.current(database)) or 'base'}.")


@db.command()
@click.pass_context
@_friendly
def history(ctx: click.Context) -> None:
    """List the migrations, oldest first; '*' marks the ones applied."""
    database = _database(ctx)
    scripts = migrations.history(database)
    if not scripts:
        click.echo("No migrations yet.")
        return
    done = migrations.applied(database)
    for script in scripts:
        mark = "*" if script.revision in done else " "
        click.echo(f"{mark} {script.revision}  {script.doc}")


@db.command()
@click.pass_context
@_friendly
def current(ctx: click.Context) -> None:
    """Show the revision the database is at."""
    revisions = migrations.current(_database(ctx))
    click.echo(", ".join(revisions) if revisions else "base (no migration applied)")


@db.command()
@click.option("--lint", is_flag=True, help="Lint the migrations not applied yet.")
@click.option("--strict", is_flag=True, help="With --lint: unsafe operations fail the check.")
@click.pass_context
@_friendly
def check(ctx: click.Context, lint: bool, strict: bool) -> None:
    """Fail unless the database is migrated and matches the models.

    With --lint, the migrations not applied yet are linted for operations that lock or
    break a live table (see keel.db.lint) and the check is of what they leave to do.
    """
    database = _database(ctx)
    if lint:
        waiting = migrations.pending(database)
        warnings = migrations.lint(database)
        _show(warnings)
        if warnings and strict:
            raise click.ClickException(f"{len(warnings)} unsafe operation(s) (--strict)")
        if waiting:
            click.echo(
                f"Linted {len(waiting)} migration(s) not applied yet: "
                f"{len(warnings)} warning(s). Apply them with: keel db migrate"
            )
            return
    state = migrations.check(database)
    problem = state.problem()
    if problem is not None:
        raise click.ClickException(problem[0].upper() + problem[1:])
    click.echo("Database, migrations and models agree.")
