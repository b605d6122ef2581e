"""Database errors as problem details: 409, 422, 404, 503, never raw database text."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import MetaData, Table
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    InvalidRequestError,
    NoResultFound,
    OperationalError,
    StatementError,
)
from sqlalchemy.orm.exc import StaleDataError

from keel.db.diagnostics import explain, is_schema_error
from keel.errors import HTTPError
from keel.responses import Response

if TYPE_CHECKING:
    from keel import App, Request

__all__ = [
    "Violation",
    "ViolationKind",
    "classify_integrity_error",
    "http_error_for",
    "register_exception_handlers",
]

logger = logging.getLogger("keel.db")

ViolationKind = Literal["unique", "foreign_key", "not_null", "check", "other"]

_PG_STATES: dict[str, ViolationKind] = {
    "23505": "unique",
    "23503": "foreign_key",
    "23502": "not_null",
    "23514": "check",
}
_SQLITE_PREFIXES: tuple[tuple[str, ViolationKind], ...] = (
    ("UNIQUE constraint failed:", "unique"),
    ("FOREIGN KEY constraint failed", "foreign_key"),
    ("NOT NULL constraint failed:", "not_null"),
    ("CHECK constraint failed:", "check"),
)
_PG_KEY = re.compile(r"Key \(([^)]*)\)=")
_STATEMENT = re.compile(
    r'^\s*(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+(?:"?\w+"?\.)?"?(\w+)"?', re.IGNORECASE
)


@dataclass(frozen=True)
class Violation:
    """What an ``IntegrityError`` was about, without the database's own wording.

    Attributes:
        kind: ``unique``, ``foreign_key``, ``not_null``, ``check`` or ``other``.
        fields: the column names involved, when they can be told.
        constraint: the constraint name, when the database reports it.
        referenced: for a foreign key: True when a row still referenced elsewhere
            was deleted or changed, False when a row points at a missing one.
    """

    kind: ViolationKind
    fields: tuple[str, ...] = ()
    constraint: str | None = None
    referenced: bool = False


def classify_integrity_error(exc: DBAPIError, metadata: MetaData | None = None) -> Violation:
    """Tell which constraint an ``IntegrityError`` violated, on PostgreSQL or SQLite."""
    driver = getattr(exc, "driver_exception", None) or exc.orig
    statement = _STATEMENT.match(exc.statement or "")
    verb = statement.group(1).split()[0].upper() if statement else ""
    table_name = statement.group(2) if statement else None
    sqlstate = getattr(driver, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if sqlstate is not None:
        kind = _PG_STATES.get(sqlstate, "other")
        constraint = getattr(driver, "constraint_name", None)
        detail = getattr(driver, "detail", None) or getattr(exc.orig, "detail", None) or ""
        fields: tuple[str, ...] = ()
        match = _PG_KEY.search(detail)
        if match:
            fields = tuple(f.strip().strip('"') for f in match.group(1).split(","))
        elif kind == "not_null" and getattr(driver, "column_name", None):
            fields = (str(getattr(driver, "column_name", "")),)
        elif constraint and metadata is not None:
            fields = _constraint_columns(metadata, constraint)
        if kind == "check" and constraint:
            constraint = _short_check_name(metadata, constraint)
        referenced = kind == "foreign_key" and "still referenced" in detail
        if kind == "foreign_key" and referenced is False and verb == "DELETE":
            referenced = True
        if kind == "foreign_key" and not referenced and constraint and metadata is not None:
            fields = _constraint_columns(metadata, constraint) or fields
        return Violation(kind, fields, constraint, referenced)
    message = str(driver)
    found = next((p for p in _SQLITE_PREFIXES if message.startswith(p[0])), None)
    if found is None:
        return Violation("other")
    prefix, kind = found
    rest = message[len(prefix) :].strip()
    if kind in ("unique", "not_null"):
        names = tuple(part.strip().rsplit(".", 1)[-1] for part in rest.split(",") if part.strip())
        return Violation(kind, names)
    if kind == "check":
        return Violation(kind, constraint=_short_check_name(metadata, rest) or None)
    if verb == "DELETE":
        return Violation(kind, referenced=True)
    fields = ()
    table = _find_table(metadata, table_name)
    if table is not None and verb in ("INSERT", "UPDATE"):
        fks = [tuple(c.name for c in fk.columns) for fk in table.foreign_key_constraints]
        if len(fks) == 1:
            fields = fks[0]
    return Violation(kind, fields)


def _short_check_name(metadata: MetaData | None, name: str) -> str:
    """``ck_books_pages_positive`` -> ``pages_positive`` (the name given in the model)."""
    for table in metadata.tables.values() if metadata is not None else ():
        prefix = f"ck_{table.name}_"
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def _find_table(metadata: MetaData | None, name: str | None) -> Table | None:
    if metadata is None or name is None:
        return None
    for table in metadata.tables.values():
        if table.name == name:
            return table
    return None


def _constraint_columns(metadata: MetaData, name: str) -> tuple[str, ...]:
    for table in metadata.tables.values():
        for constraint in table.constraints:
            if constraint.name == name:
                columns = getattr(constraint, "columns", ())
                return tuple(c.name for c in columns)
        for index in table.indexes:
            if index.name == name:
                return tuple(c.name for c in index.columns if hasattr(c, "name"))
    return ()


def _field_extra(fields: Sequence[str]) -> dict[str, Any]:
    extra: dict[str, Any] = {"fields": list(fields)}
    if len(fields) == 1:
        extra["field"] = fields[0]
    return extra


def http_error_for(exc: BaseException, metadata: MetaData | None = None) -> HTTPError | None:
    """The ``HTTPError`` a database exception should answer with, or None to let it be a 500.

    Args:
        exc: the exception a handler or the session's commit raised.
        metadata: the models' metadata, used to name the columns of a constraint.
    """
    if is_schema_error(exc) or (
        isinstance(exc, (InvalidRequestError, StatementError))
        and not isinstance(exc, (NoResultFound, DBAPIError))
    ):
        return None  # a missing table, an unloaded relationship: the code's fault, a 500
    state = _sqlstate(exc)
    if isinstance(exc, IntegrityError) or (state or "").startswith("23"):
        assert isinstance(exc, DBAPIError)
        return _integrity_error(classify_integrity_error(exc, metadata))
    if isinstance(exc, StaleDataError):
        return HTTPError(
            409,
            "The resource was changed by someone else since it was read; reload and retry.",
            title="Edit conflict",
        )
    if isinstance(exc, NoResultFound):
        return HTTPError(404, "The requested resource does not exist.")
    if isinstance(exc, OverflowError) and "SQLite INTEGER" in str(exc):
        return HTTPError(422, "A number is out of range for the database.")
    if isinstance(exc, DataError) or (state or "").startswith("22"):
        return HTTPError(422, "A value is invalid or out of range for the database.")
    if state in ("40001", "40P01"):  # serialization failure, deadlock
        return HTTPError(
            409,
            "The change collided with a concurrent one; retry.",
            title="Conflict",
            headers={"Retry-After": "0"},
        )
    if isinstance(exc, OperationalError) or (state or "")[:2] in ("08", "53", "57"):
        return HTTPError(
            503,
            "The database is unavailable or busy; retry shortly.",
            headers={"Retry-After": "1"},
        )
    return None


def _sqlstate(exc: BaseException) -> str | None:
    if not isinstance(exc, DBAPIError):
        return None
    driver = getattr(exc, "driver_exception", None)
    state = getattr(driver, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return str(state) if state else None


def _integrity_error(violation: Violation) -> HTTPError:
    fields = violation.fields
    names = ", ".join(fields)
    extra = _field_extra(fields)
    if violation.kind == "unique":
        detail = f"An item with this {names} already exists." if names else "Duplicate item."
        return HTTPError(409, detail, title="Already exists", extra=extra)
    if violation.kind == "foreign_key":
        if violation.referenced:
            return HTTPError(
                409,
                "The item is still referenced by other items; remove or reassign them first.",
                title="Still referenced",
            )
        what = f"The item referenced by {names}" if names else "A referenced item"
        return HTTPError(422, f"{what} does not exist.", title="Invalid reference", extra=extra)
    if violation.kind == "not_null":
        return HTTPError(422, f"{names or 'A field'} must not be null.", extra=extra)
    if violation.kind == "check":
        if violation.constraint:
            extra["rule"] = violation.constraint
            return HTTPError(422, f"A value breaks the rule {violation.constraint}.", extra=extra)
        return HTTPError(422, "A value breaks a rule of the database.", extra=extra)
    return HTTPError(409, "The change conflicts with the stored data.", title="Conflict")


def register_exception_handlers(app: App) -> None:
    """Map SQLAlchemy exceptions to HTTP errors on ``app`` (``init_app`` does it).

    The handler raises the ``HTTPError`` (see :func:`http_error_for`) rather than rendering
    it, so the app's own ``HTTPError`` handlers and its error format apply to it.
    """

    async def handle(request: Request, exc: Exception) -> Response:
        database = getattr(request.app.state, "database", None)
        metadata = getattr(database, "metadata", None)
        error = http_error_for(exc, metadata)
        explained = explain(exc) if error is None else None
        if error is None and getattr(request.app, "debug", False):
            raise explained or exc  # the core's debug page shows it and the traceback
        if error is None:
            hint = f": {explained}" if explained else ""
            logger.error(
                "Database error in %s %s%s", request.method, request.path, hint, exc_info=exc
            )
            error = HTTPError(
                500, "The server failed to handle this request.", title="Internal Server Error"
            )
        elif error.status >= 500:
            logger.warning("Database error answered with %s: %r", error.status, exc)
        raise error from exc

    # OverflowError: sqlite3 refuses integers beyond 64 bits before the query runs.
    # InvalidRequestError, StatementError: a relationship or expired attribute read
    # without being loaded (explained by keel.db.diagnostics), among other misuses.
    handled = (DBAPIError, StaleDataError, NoResultFound, OverflowError)
    for exc_type in (*handled, InvalidRequestError, StatementError):
        app.exception_handler(exc_type)(handle)
