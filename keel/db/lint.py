"""Migration safety lint: operations that lock or break a live table, each with a safe recipe.

``keel db makemigrations`` lints the script it writes; ``keel db check --lint`` lints the
scripts the database has not applied yet. ``--strict`` turns warnings into errors (CI).

What is flagged:

* ``not-null-without-default``: a ``NOT NULL`` column added to an existing table without a
  server default (fails on a table with rows; on PostgreSQL before 11 rewrites it).
* ``index-not-concurrent`` (PostgreSQL): ``CREATE INDEX`` on an existing table without
  ``CONCURRENTLY`` (blocks writes for the whole build).
* ``type-rewrite`` (PostgreSQL): a column type change that rewrites the table under an
  ``ACCESS EXCLUSIVE`` lock (everything but widening ``VARCHAR``/``NUMERIC`` or going to
  ``TEXT``).
* ``drop-mapped-column``: a column dropped while the models still map it (the running code
  selects it: every query fails after the migration).
* ``rename-as-drop-add``: one migration drops a column and adds another to the same table
  (autogenerate's reading of a rename: the data of the old column is lost).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from alembic.operations import BatchOperations, Operations
from alembic.operations import ops as alembic_ops
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, Numeric, String, Text
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = ["LintWarning", "lint_operations", "record_operations"]

_CREATE_INDEX = re.compile(r"\bcreate\s+(unique\s+)?index\b", re.IGNORECASE)
_CONCURRENTLY = re.compile(r"\bconcurrently\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class LintWarning:
    """One unsafe operation in a migration.

    Attributes:
        code: What kind (``not-null-without-default``, ``index-not-concurrent``,
            ``type-rewrite``, ``drop-mapped-column``, ``rename-as-drop-add``).
        table: The table concerned.
        message: What the operation does to a live table.
        recipe: How to make the same change safely.
        revision: The migration's revision, when linting scripts.
    """

    code: str
    table: str
    message: str
    recipe: str
    revision: str | None = None

    def __str__(self) -> str:
        where = f"{self.revision}: " if self.revision else ""
        return f"{where}[{self.code}] {self.message}\n    safe recipe: {self.recipe}"


def _flatten(operations: Iterable[Any]) -> Iterator[Any]:
    for op in operations:
        nested = getattr(op, "ops", None)
        if isinstance(nested, list):  # ModifyTableOps, UpgradeOps
            yield from _flatten(nested)
        else:
            yield op


def _impl(kind: TypeEngine[Any] | None) -> TypeEngine[Any] | None:
    while isinstance(kind, TypeDecorator):
        kind = kind.impl_instance
    return kind


def _widens(old: TypeEngine[Any] | None, new: TypeEngine[Any] | None) -> bool:
    """Whether PostgreSQL changes ``old`` to ``new`` without rewriting the table."""
    old, new = _impl(old), _impl(new)
    if old is None or new is None:
        return False
    if isinstance(old, String) and isinstance(new, String):  # Text is a String too
        if isinstance(new, Text) or new.length is None:
            return True
        return not isinstance(old, Text) and old.length is not None and new.length >= old.length
    if isinstance(old, Numeric) and isinstance(new, Numeric) and type(old) is type(new):
        if new.precision is None:
            return True
        return (
            old.precision is not None
            and new.precision >= old.precision
            and (new.scale or 0) == (old.scale or 0)
        )
    return False


def lint_operations(
    operations: Iterable[Any],
    *,
    dialect: str,
    metadata: MetaData | None = None,
    revision: str | None = None,
) -> list[LintWarning]:
    """The unsafe operations among Alembic ``operations`` (one migration's upgrade).

    Args:
        operations: Alembic operation objects (``MigrateOperation``), nested or flat.
        dialect: ``"postgresql"``, ``"sqlite"``...: the index and type rules are
            PostgreSQL's.
        metadata: The models' tables, for ``drop-mapped-column``.
        revision: The revision the operations come from, for the messages.
    """
    flat = list(_flatten(operations))
    created = {op.table_name for op in flat if isinstance(op, alembic_ops.CreateTableOp)}
    found: list[LintWarning] = []

    def warn(code: str, table: str, message: str, recipe: str) -> None:
        found.append(LintWarning(code, table, message, recipe, revision))

    postgres = dialect == "postgresql"
    dropped: dict[str, list[str]] = {}
    added: dict[str, list[str]] = {}
    for op in flat:
        if isinstance(op, alembic_ops.AddColumnOp):
            column = op.column
            added.setdefault(op.table_name, []).append(column.name)
            if op.table_name in created:
                continue
            if not column.nullable and column.server_default is None:
                warn(
                    "not-null-without-default",
                    op.table_name,
                    f"adds NOT NULL column {op.table_name}.{column.name} without a server "
                    "default: it fails on a table that has rows (and existing code that "
                    "inserts without it fails after the migration)",
                    "add the column nullable (or with server_default=...), deploy code that "
                    "writes it, backfill existing rows in batches, then make it NOT NULL in a "
                    "later migration",
                )
        elif isinstance(op, alembic_ops.CreateIndexOp):
            if not postgres or op.table_name in created:
                continue
            if not op.kw.get("postgresql_concurrently"):
                warn(
                    "index-not-concurrent",
                    op.table_name,
                    f"creates index {op.index_name} on {op.table_name} without "
                    "CONCURRENTLY: writes to the table wait for the whole build",
                    "op.create_index(..., postgresql_concurrently=True) inside "
                    "`with op.get_context().autocommit_block():` (CONCURRENTLY cannot run "
                    "in a transaction)",
                )
        elif isinstance(op, alembic_ops.ExecuteSQLOp):
            sql = op.sqltext if isinstance(op.sqltext, str) else str(op.sqltext)
            if postgres and _CREATE_INDEX.search(sql) and not _CONCURRENTLY.search(sql):
                warn(
                    "index-not-concurrent",
                    "?",
                    f"runs {' '.join(sql.split())[:80]!r}: CREATE INDEX without CONCURRENTLY "
                    "blocks writes for the whole build",
                    "write CREATE INDEX CONCURRENTLY and run it inside "
                    "`with op.get_context().autocommit_block():`",
                )
        elif isinstance(op, alembic_ops.AlterColumnOp):
            if not postgres or op.modify_type is None or op.table_name in created:
                continue
            if not _widens(op.existing_type, op.modify_type):
                old = op.existing_type if op.existing_type is not None else "its type"
                warn(
                    "type-rewrite",
                    op.table_name,
                    f"changes {op.table_name}.{op.column_name} from {old} to "
                    f"{op.modify_type}: PostgreSQL rewrites the table under an exclusive "
                    "lock (no reads or writes until it is done)",
                    "add a new column of the new type, write both from the code, backfill "
                    "in batches, switch reads to it, then drop the old column in a later "
                    "migration",
                )
        elif isinstance(op, alembic_ops.DropColumnOp):
            dropped.setdefault(op.table_name, []).append(op.column_name)
            mapped = metadata.tables.get(op.table_name) if metadata is not None else None
            if mapped is None and metadata is not None and op.schema:
                mapped = metadata.tables.get(f"{op.schema}.{op.table_name}")
            if mapped is not None and op.column_name in mapped.c:
                warn(
                    "drop-mapped-column",
                    op.table_name,
                    f"drops {op.table_name}.{op.column_name}, which the models still map: "
                    "the running code selects it, so its queries fail once it is gone",
                    "remove the column from the model and deploy that first, then drop it "
                    "in a later migration",
                )
    for name, gone in dropped.items():
        new = added.get(name)
        if new and name not in created:
            warn(
                "rename-as-drop-add",
                name,
                f"drops {', '.join(gone)} and adds {', '.join(new)} on {name}: if this is "
                "a rename, the data of the old column is lost",
                "to rename without downtime add the new column, write both, backfill, "
                "switch reads, then drop the old one; to rename in place (the running code "
                "breaks until redeployed) use op.alter_column(table, old, "
                "new_column_name=new)",
            )
    return found


class _Recorder(Operations):
    """Alembic operations that are recorded instead of run."""

    def __init__(self, context: MigrationContext, into: list[Any]) -> None:
        super().__init__(context)
        self.recorded = into

    def invoke(self, operation: Any) -> Any:
        self.recorded.append(operation)
        return None

    @contextmanager
    def batch_alter_table(  # type: ignore[override]
        self, table_name: str, schema: str | None = None, **_: Any
    ) -> Any:
        batch = _BatchRecorder(self.migration_context, self.recorded, table_name, schema)
        yield batch


class _BatchRecorder(BatchOperations):
    def __init__(
        self, context: MigrationContext, into: list[Any], table: str, schema: str | None
    ) -> None:
        super().__init__(context, impl=SimpleNamespace(table_name=table, schema=schema))  # type: ignore[arg-type]
        self.recorded = into

    def invoke(self, operation: Any) -> Any:
        self.recorded.append(operation)
        return None


def record_operations(upgrade: Any, dialect: str) -> list[Any]:
    """The operations a migration's ``upgrade()`` would run, without a database."""
    context = MigrationContext.configure(
        dialect_name=dialect, opts={"as_sql": True, "output_buffer": io.StringIO()}
    )
    recorded: list[Any] = []
    recorder = _Recorder(context, recorded)
    # ``alembic.op`` forwards to the Operations object installed in it (as Alembic's own
    # Operations.context() does); the previous one is put back afterwards.
    names, modules = Operations._setups[Operations]
    saved = [dict(namespace) for namespace, _ in modules]
    for namespace, _ in modules:
        namespace["_proxy"] = recorder
        for name in names:
            namespace[name] = getattr(recorder, name)
    try:
        upgrade()
    finally:
        for (namespace, _), before in zip(modules, saved, strict=True):
            namespace.clear()
            namespace.update(before)
    return recorded
