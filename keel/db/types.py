"""Column types keel maps Python annotations to."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

__all__ = ["UTCDateTime"]


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware datetime stored in UTC on every backend.

    PostgreSQL keeps the offset natively; SQLite has no datetime type and drops
    it. Values are converted to UTC on the way in (a naive value is taken to be
    UTC already) and come back aware in UTC on both, so a model reads the same
    everywhere.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
        if moment.tzinfo is None:
            return moment.replace(tzinfo=dt.UTC)
        return moment.astimezone(dt.UTC)

    @property
    def python_type(self) -> type[dt.datetime]:
        return dt.datetime
