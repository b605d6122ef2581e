"""Query helpers for handlers: ``get_or_404``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import BigInteger, Integer, SmallInteger, inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.interfaces import ORMOption

from keel.errors import HTTPError

__all__ = ["get_or_404", "not_found"]

M = TypeVar("M")

_BITS = ((SmallInteger, 15), (BigInteger, 63), (Integer, 31))


def not_found(model: type[Any], ident: Any = None) -> HTTPError:
    """The 404 error for a missing row of ``model``."""
    name = getattr(model, "__name__", "Item")
    shown = "" if ident is None else f" {str(ident)[:40]}"
    return HTTPError(404, f"{name}{shown} not found.")


def _in_range(model: type[Any], ident: Any) -> bool:
    """Whether ``ident`` can be a key of ``model`` (no query for a 40-digit id)."""
    keys = inspect(model).primary_key
    values = ident if isinstance(ident, tuple) else (ident,)
    if len(values) != len(keys):
        return True
    for column, value in zip(keys, values, strict=True):
        if isinstance(value, int) and not isinstance(value, bool):
            for int_type, bits in _BITS:
                if isinstance(column.type, int_type):
                    if not -(2**bits) <= value < 2**bits:
                        return False
                    break
    return True


async def get_or_404(
    session: AsyncSession,
    model: type[M],
    ident: Any,
    *,
    options: Sequence[ORMOption] = (),
    with_for_update: bool = False,
) -> M:
    """Load ``model`` by primary key or answer 404.

    Args:
        session: the session.
        model: the model class.
        ident: the primary key value (a tuple for a composite key).
        options: loader options, e.g. ``[selectinload(Author.books)]`` (applied even
            when the object is already in the session).
        with_for_update: lock the row (``SELECT ... FOR UPDATE`` on PostgreSQL).

    Raises:
        HTTPError: 404 when there is no such row.
    """
    if not _in_range(model, ident):
        raise not_found(model, ident)
    obj = await session.get(
        model,
        ident,
        options=options,
        with_for_update=with_for_update or None,
        populate_existing=with_for_update or bool(options),
    )
    if obj is None:
        raise not_found(model, ident)
    return obj
