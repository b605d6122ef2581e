"""Programming errors explained: a schema behind the models, a relationship never loaded.

Neither is the client's fault nor an outage: both are answered with a bare 500 and
logged. The explanation (what to run, what to load) goes to the log, and with
``App(debug=True)`` into the response.
"""

from __future__ import annotations

import re
from types import TracebackType

from sqlalchemy.exc import DBAPIError, InvalidRequestError, StatementError

__all__ = ["LazyLoadError", "SchemaError", "explain", "is_schema_error", "lazy_load_message"]


class SchemaError(RuntimeError):
    """The database lacks a table or column the models use: migrations were not applied."""


class LazyLoadError(InvalidRequestError):
    """Async code read a relationship (or expired attribute) that was never loaded."""


_SQLITE_SCHEMA = (
    re.compile(r"^no such table: (?P<table>\S+)"),
    re.compile(r"^no such column: (?P<column>\S+)"),
    re.compile(r"^table (?P<table>\S+) has no column named (?P<column>\S+)"),
)
_PG_TABLE = re.compile(r'relation "(?P<table>[^"]+)" does not exist')
_PG_COLUMN = re.compile(r"column (?P<column>\S+) does not exist")
_UNDEFINED_TABLE, _UNDEFINED_COLUMN = "42P01", "42703"
_RAISE_ON_SQL = re.compile(r"'(?P<attr>[\w.]+)' is not available due to lazy='raise")


def _schema_match(exc: BaseException) -> dict[str, str] | None:
    """The missing ``table`` and/or ``column`` named by a schema error, else None."""
    if not isinstance(exc, DBAPIError):
        return None
    driver = getattr(exc, "driver_exception", None) or exc.orig
    message = str(driver).strip()
    state = getattr(driver, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if state in (_UNDEFINED_TABLE, _UNDEFINED_COLUMN):
        pattern, key = (_PG_TABLE, "table") if state == _UNDEFINED_TABLE else (_PG_COLUMN, "column")
        match = pattern.search(message)
        return {key: match.group(key) if match else ""}
    if state is None and "sqlite" in type(exc.orig).__module__:
        for pattern in _SQLITE_SCHEMA:
            match = pattern.match(message)
            if match:
                return match.groupdict()
    return None


def is_schema_error(exc: BaseException) -> bool:
    """Whether ``exc`` says a table or column is missing (SQLite or PostgreSQL)."""
    return _schema_match(exc) is not None


def explain(exc: BaseException) -> Exception | None:
    """A ``SchemaError`` or ``LazyLoadError`` saying what to do about ``exc`` (its cause),
    or None when ``exc`` is neither."""
    if isinstance(exc, LazyLoadError):
        return exc  # raised by keel's loader, explained already
    match = _schema_match(exc)
    error: Exception
    if match is not None:
        error = SchemaError(_schema_message(match))
    else:
        attr = _unloaded_attribute(exc)
        if attr is None:
            return None
        error = LazyLoadError(lazy_load_message(attr))
    error.__cause__ = exc
    return error


def _schema_message(found: dict[str, str]) -> str:
    if found.get("column"):
        what = f"column {found['column']}"
        if found.get("table"):
            what += f" in table {found['table']}"
        fix = (
            "The models changed after the last migration: run `keel db makemigrations -m "
            '"..."` and `keel db migrate`.'
        )
    else:
        table = found.get("table")
        what = f"table {table}" if table else "a table the models use"
        fix = (
            "Run `keel db migrate` to create the tables (or `await db.create_all()` in a "
            "prototype without migrations)."
        )
    return f"The database has no {what}: its schema is behind the models. {fix}"


def _unloaded_attribute(exc: BaseException) -> str | None:
    """``"Author.books"`` for a lazy load refused (raise_on_sql) or impossible (no greenlet);
    ``""`` when a lazy load failed but the attribute cannot be told."""
    if isinstance(exc, StatementError) and isinstance(exc.orig, InvalidRequestError):
        tb, exc = exc.__traceback__, exc.orig  # a MissingGreenlet wrapped by the statement
    else:
        tb = exc.__traceback__
    if not isinstance(exc, InvalidRequestError):
        return None
    match = _RAISE_ON_SQL.search(str(exc))
    if match:
        return match.group("attr")
    if type(exc).__name__ != "MissingGreenlet":
        return None
    return _attribute_from_traceback(tb) or _attribute_from_traceback(exc.__traceback__) or ""


def _attribute_from_traceback(tb: TracebackType | None) -> str | None:
    """The relationship or column whose loading raised, read from the loader's frames."""
    found: str | None = None
    while tb is not None:
        local = tb.tb_frame.f_locals
        owner = local.get("self")
        prop = getattr(owner, "parent_property", None)
        if prop is not None and type(owner).__name__ == "_LazyLoader":
            found = str(prop)
        elif found is None and "attribute_names" in local and "mapper" in local:
            names = local.get("attribute_names") or ()
            mapper = local.get("mapper")
            cls = getattr(getattr(mapper, "class_", None), "__name__", "?")
            if names:
                found = ", ".join(f"{cls}.{name}" for name in sorted(names))
        tb = tb.tb_next
    return found


def lazy_load_message(attr: str) -> str:
    """What to do about reading ``attr`` (``"Author.books"``) that was not loaded."""
    if not attr:
        return (
            "An attribute was loaded implicitly in async code (a lazy relationship or an "
            "expired attribute). Load relationships in the query with "
            "`.options(selectinload(Model.relationship))` or `get_or_404(..., "
            "load=[selectinload(Model.relationship)])`, or `await session.refresh(obj)`."
        )
    owner, _, key = attr.rpartition(".")
    return (
        f"{attr} was not loaded, and async code cannot load it implicitly. Load it with the "
        f"query: `select({owner}).options(selectinload({attr}))`, or "
        f"`get_or_404(session, {owner}, ident, load=[selectinload({attr})])`; or load it "
        f'explicitly with `await session.refresh(obj, ["{key}"])`.'
    )
