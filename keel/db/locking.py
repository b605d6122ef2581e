"""Avoiding lost updates: row locks and optimistic version checks."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession

from keel.db.queries import _in_range, not_found
from keel.errors import HTTPError

__all__ = ["expect_version", "select_for_update"]

M = TypeVar("M")


async def select_for_update(
    session: AsyncSession,
    model: type[M],
    ident: Any,
    *,
    nowait: bool = False,
    skip_locked: bool = False,
) -> M:
    """Load a row and lock it until the transaction ends, or answer 404.

    On PostgreSQL this is ``SELECT ... FOR UPDATE``: a concurrent transaction
    that locks the same row waits until this one commits, so a
    read-modify-write cannot lose an update. SQLite has no row locks (one
    writer at a time): the statement runs without ``FOR UPDATE``.

    Args:
        session: the session.
        model: the model class.
        ident: the primary key value.
        nowait: fail at once instead of waiting for the lock (PostgreSQL).
        skip_locked: treat a locked row as missing (PostgreSQL; for job queues).

    Raises:
        HTTPError: 404 when there is no such row.
    """
    if not _in_range(model, ident):
        raise not_found(model, ident)
    lock: dict[str, Any] = {"nowait": nowait, "skip_locked": skip_locked}
    obj = await session.get(model, ident, with_for_update=lock, populate_existing=True)
    if obj is None:
        raise not_found(model, ident)
    return obj


def expect_version(obj: Any, version: int | str | None) -> None:
    """Check the version a client based its edit on (``Versioned`` models).

    Pass the ``version`` the client read (from the body or an ``If-Match``
    header); a mismatch answers 409 before anything is written. Concurrent
    writers racing past this check are still caught at flush time.

    Raises:
        HTTPError: 409 when ``version`` is not the object's current version,
            428 when it is None.
    """
    mapper = inspect(type(obj))
    column = mapper.version_id_col
    if column is None:
        raise TypeError(f"{type(obj).__name__} has no version column: mix in Versioned")
    if version is None:
        raise HTTPError(
            428, "Send the version you edited (If-Match) to avoid overwriting other changes."
        )
    if str(version).strip() == "*":  # If-Match: * - any current version will do
        return
    prop = mapper.get_property_by_column(column)
    current = getattr(obj, prop.key)
    if str(current) != str(version).strip('"W/'):
        raise HTTPError(
            409,
            f"The resource is at version {current}, not {str(version)[:20]}; reload and retry.",
            title="Edit conflict",
            extra={"version": current},
        )
