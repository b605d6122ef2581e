"""Query helpers for handlers: ``get_or_404``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import BigInteger, Integer, SmallInteger, inspect, select
from sqlalchemy.exc import MultipleResultsFound
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.interfaces import ORMOption

from keel.errors import HTTPError

__all__ = ["get_or_404", "not_found"]

M = TypeVar("M")

_BITS = ((SmallInteger, 15), (BigInteger, 63), (Integer, 31))


def not_found(model: type[Any], ident: Any = None, detail: str | None = None) -> HTTPError:
    """The 404 error for a missing row of ``model`` (``detail`` replaces the default text)."""
    if detail is not None:
        return HTTPError(404, detail)
    name = getattr(model, "__name__", "Item")
    shown = "" if ident is None else f" {str(ident)[:40]}"
    return HTTPError(404, f"{name}{shown} not found.")


def _fits(column: Any, value: Any) -> bool:
    """Whether ``value`` can be stored in ``column`` (an int within its integer type)."""
    if isinstance(value, int) and not isinstance(value, bool):
        for int_type, bits in _BITS:
            if isinstance(column.type, int_type):
                return bool(-(2**bits) <= value < 2**bits)
    return True


def _in_range(model: type[Any], ident: Any) -> bool:
    """Whether ``ident`` can be a key of ``model`` (no query for a 40-digit id)."""
    keys = inspect(model).primary_key
    values = ident if isinstance(ident, tuple) else (ident,)
    if len(values) != len(keys):
        return True
    return all(_fits(column, value) for column, value in zip(keys, values, strict=True))


async def get_or_404(
    session: AsyncSession,
    model: type[M],
    ident: Any = None,
    /,
    *,
    load: Sequence[ORMOption] = (),
    options: Sequence[ORMOption] = (),
    with_for_update: bool = False,
    detail: str | None = None,
    **columns: Any,
) -> M:
    """Load ``model`` by primary key, or by the values of other columns, or answer 404.

    Args:
        session: the session.
        model: the model class.
        ident: the primary key value (a tuple for a composite key).
        load: loader options for what the response needs, e.g.
            ``[selectinload(Article.tags)]`` (applied even when the object is already
            in the session); ``options`` is the same.
        with_for_update: lock the row (``SELECT ... FOR UPDATE`` on PostgreSQL).
        detail: the 404's detail (default ``"Article 7 not found."``).
        **columns: instead of ``ident``, column values that identify one row, e.g.
            ``slug=slug`` (more than one match is an error: use unique columns).

    Raises:
        HTTPError: 404 when there is no such row.
        TypeError: neither or both of ``ident`` and ``columns``, or an unknown column.

    Example:
        article = await get_or_404(session, Article, slug=slug, detail="No such article.")
    """
    loaders = (*load, *options)
    if columns:
        if ident is not None:
            raise TypeError("get_or_404() takes a primary key or column values, not both")
        return await _get_by_columns(session, model, columns, loaders, with_for_update, detail)
    if ident is None:
        raise TypeError("get_or_404() needs a primary key or column values (slug=...)")
    if not _in_range(model, ident):
        raise not_found(model, ident, detail)
    obj = await session.get(
        model,
        ident,
        options=loaders,
        with_for_update=with_for_update or None,
        populate_existing=with_for_update or bool(loaders),
    )
    if obj is None:
        raise not_found(model, ident, detail)
    return obj


async def _get_by_columns(
    session: AsyncSession,
    model: type[M],
    columns: dict[str, Any],
    loaders: Sequence[ORMOption],
    with_for_update: bool,
    detail: str | None,
) -> M:
    mapper = inspect(model)
    for name, value in columns.items():
        column = mapper.columns.get(name)
        if column is None:
            raise TypeError(f"{mapper.class_.__name__} has no column {name!r}")
        if not _fits(column, value):
            raise not_found(model, None, detail)
    statement = select(model).filter_by(**columns).limit(2)
    if loaders:
        statement = statement.options(*loaders).execution_options(populate_existing=True)
    if with_for_update:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    found = (await session.scalars(statement)).unique().all()
    if not found:
        raise not_found(model, None, detail)
    if len(found) > 1:
        names = ", ".join(columns)
        raise MultipleResultsFound(
            f"get_or_404({mapper.class_.__name__}, {names}=...) matched several rows: "
            "identify a row by unique columns"
        )
    return found[0]
