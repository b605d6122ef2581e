"""keel.db: models, async sessions, derived schemas, pagination and migrations.

Example:
    from keel.db import Database, IntPK, Model, Schema, Session

    db = Database()  # KEEL_DATABASE_URL, or sqlite+aiosqlite:///./app.db
    db.init_app(app)

The migration commands live in ``keel.db.migrations`` (``keel db ...``) and the
pytest fixtures in ``keel.db.testing``; both are imported only when used.
"""

from __future__ import annotations

from keel.db.database import Database, DatabaseSettings
from keel.db.diagnostics import LazyLoadError, SchemaError
from keel.db.locking import expect_version, select_for_update
from keel.db.models import (
    NAMING_CONVENTION,
    READ_ONLY,
    TYPE_ANNOTATION_MAP,
    UUIDPK,
    IntPK,
    Model,
    Timestamps,
    Versioned,
    new_metadata,
)
from keel.db.pagination import (
    CursorPage,
    CursorPagination,
    CursorParams,
    Page,
    PageParams,
    Pagination,
    cursor_params,
    page_params,
    paginate,
    paginate_keyset,
)
from keel.db.queries import get_or_404
from keel.db.schema import NotBlank, Schema, apply, schema
from keel.db.session import Session, current_session, database_of, get_session
from keel.db.types import UTCDateTime

__all__ = [
    "CursorPage",
    "CursorPagination",
    "CursorParams",
    "Database",
    "DatabaseSettings",
    "IntPK",
    "LazyLoadError",
    "Model",
    "NAMING_CONVENTION",
    "NotBlank",
    "Page",
    "PageParams",
    "Pagination",
    "READ_ONLY",
    "Schema",
    "SchemaError",
    "Session",
    "TYPE_ANNOTATION_MAP",
    "Timestamps",
    "UTCDateTime",
    "UUIDPK",
    "Versioned",
    "apply",
    "current_session",
    "cursor_params",
    "database_of",
    "expect_version",
    "get_or_404",
    "get_session",
    "new_metadata",
    "page_params",
    "paginate",
    "paginate_keyset",
    "schema",
    "select_for_update",
]
