"""Limit/offset and keyset (cursor) pagination: ``Page[T]``, ``CursorPage[T]``."""

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any, Generic, TypeVar

import pydantic
from pydantic import BaseModel, Field, TypeAdapter
from sqlalchemy import Select, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from keel import Depends
from keel.errors import HTTPError
from keel.params import Query

__all__ = [
    "CursorPage",
    "CursorPagination",
    "CursorParams",
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "Page",
    "PageParams",
    "Pagination",
    "cursor_params",
    "page_params",
    "paginate",
    "paginate_keyset",
]

T = TypeVar("T")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class Page(BaseModel, Generic[T]):
    """One page of a limit/offset listing; use ``Page[AuthorRead]`` as a return annotation."""

    items: list[T] = Field(description="The items of this page.")
    total: int = Field(description="How many items match, over all pages.")
    limit: int = Field(description="The page size asked for.")
    offset: int = Field(description="How many items come before this page.")


class CursorPage(BaseModel, Generic[T]):
    """One page of a keyset listing; pass ``next_cursor`` back as ``?cursor=`` for the next."""

    items: list[T] = Field(description="The items of this page.")
    next_cursor: str | None = Field(description="The cursor of the next page; null on the last.")
    limit: int = Field(description="The page size asked for.")


@dataclass(frozen=True, slots=True)
class PageParams:
    """The ``limit`` and ``offset`` query parameters of a listing."""

    limit: int = DEFAULT_LIMIT
    offset: int = 0


@dataclass(frozen=True, slots=True)
class CursorParams:
    """The ``cursor`` and ``limit`` query parameters of a keyset listing."""

    cursor: str | None = None
    limit: int = DEFAULT_LIMIT


def page_params(
    default_limit: int = DEFAULT_LIMIT, max_limit: int = MAX_LIMIT
) -> Callable[..., PageParams]:
    """Make a dependency reading ``?limit=&offset=``, with ``limit`` bounded by ``max_limit``.

    Example:
        BigPages = Annotated[PageParams, Depends(page_params(50, 500))]
    """

    def pagination(
        limit: Annotated[
            int, Query(ge=1, le=max_limit, description=f"Page size, at most {max_limit}.")
        ] = default_limit,
        offset: Annotated[int, Query(ge=0, le=2**31, description="How many items to skip.")] = 0,
    ) -> PageParams:
        return PageParams(limit, offset)

    return pagination


def cursor_params(
    default_limit: int = DEFAULT_LIMIT, max_limit: int = MAX_LIMIT
) -> Callable[..., CursorParams]:
    """Make a dependency reading ``?cursor=&limit=`` for ``paginate_keyset``."""

    def pagination(
        cursor: Annotated[
            str | None,
            Query(max_length=2000, description="The next_cursor of the previous page."),
        ] = None,
        limit: Annotated[
            int, Query(ge=1, le=max_limit, description=f"Page size, at most {max_limit}.")
        ] = default_limit,
    ) -> CursorParams:
        return CursorParams(cursor, limit)

    return pagination


Pagination = Annotated[PageParams, Depends(page_params())]
"""Inject ``?limit=`` (1..100, default 20) and ``?offset=`` as ``PageParams``."""

CursorPagination = Annotated[CursorParams, Depends(cursor_params())]
"""Inject ``?cursor=`` and ``?limit=`` (1..100, default 20) as ``CursorParams``."""


async def paginate(
    session: AsyncSession,
    statement: Select[Any],
    params: PageParams | None = None,
    *,
    limit: int | None = None,
    offset: int | None = None,
) -> Page[Any]:
    """Run ``statement`` for one page and count all matching rows.

    Args:
        session: the session.
        statement: a ``select(Model)`` with its filters and an ``order_by``.
        params: the injected ``Pagination``; ``limit``/``offset`` override it.
        limit: the page size.
        offset: the number of rows to skip.

    Returns:
        A page holding ORM objects; with ``Page[ModelRead]`` as the handler's return
        annotation they are serialized through the read schema.
    """
    params = params or PageParams()
    size = params.limit if limit is None else limit
    skip = params.offset if offset is None else offset
    counted = select(func.count()).select_from(statement.order_by(None).subquery())
    total = (await session.execute(counted)).scalar_one()
    result = await session.scalars(statement.limit(size).offset(skip))
    items = list(result.unique().all())
    return Page[Any].model_construct(items=items, total=total, limit=size, offset=skip)


async def paginate_keyset(
    session: AsyncSession,
    statement: Select[Any],
    order_by: Sequence[QueryableAttribute[Any]],
    params: CursorParams | None = None,
    *,
    cursor: str | None = None,
    limit: int | None = None,
    descending: bool = False,
) -> CursorPage[Any]:
    """Run ``statement`` for the page after ``cursor``, ordered by the keys in ``order_by``.

    Unlike an offset, a cursor costs the same on page 1 and page 10,000, and rows
    inserted meanwhile do not shift the pages.

    Args:
        session: the session.
        statement: a ``select(Model)`` with its filters and no ``order_by``.
        order_by: the model attributes to order by, non-null, the last one unique
            (e.g. ``[Book.published, Book.id]``).
        params: the injected ``CursorPagination``; ``cursor``/``limit`` override it.
        cursor: the ``next_cursor`` of the previous page, or None for the first.
        limit: the page size.
        descending: newest (highest key) first.

    Raises:
        HTTPError: 422 when the cursor was not made by this listing.
    """
    params = params or CursorParams()
    token = params.cursor if cursor is None else cursor
    size = params.limit if limit is None else limit
    columns = list(order_by)
    if not columns:
        raise ValueError("paginate_keyset needs at least one order_by attribute")
    adapter = _key_adapter(tuple(_python_type(c) for c in columns))
    if token:
        values = _decode_cursor(adapter, token)
        key = tuple_(*columns) if len(columns) > 1 else columns[0]
        bound: Any = tuple_(*values) if len(columns) > 1 else values[0]
        statement = statement.where(key < bound if descending else key > bound)
    ordering = [c.desc() if descending else c.asc() for c in columns]
    result = await session.scalars(statement.order_by(*ordering).limit(size + 1))
    rows = list(result.unique().all())
    items = rows[:size]
    next_cursor = None
    if len(rows) > size and items:
        last = items[-1]
        next_cursor = _encode_cursor(adapter, tuple(getattr(last, c.key) for c in columns))
    return CursorPage[Any].model_construct(items=items, next_cursor=next_cursor, limit=size)


def _python_type(attribute: QueryableAttribute[Any]) -> Any:
    try:
        return attribute.expression.type.python_type
    except NotImplementedError:
        return Any


@lru_cache(maxsize=256)
def _key_adapter(types: tuple[Any, ...]) -> TypeAdapter[tuple[Any, ...]]:
    return TypeAdapter(tuple[types])  # type: ignore[valid-type]


def _encode_cursor(adapter: TypeAdapter[tuple[Any, ...]], values: tuple[Any, ...]) -> str:
    return base64.urlsafe_b64encode(adapter.dump_json(values)).decode("ascii").rstrip("=")


def _decode_cursor(adapter: TypeAdapter[tuple[Any, ...]], token: str) -> tuple[Any, ...]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        return adapter.validate_json(raw)
    except (binascii.Error, ValueError, pydantic.ValidationError):
        raise HTTPError(
            422,
            "The cursor is invalid: pass back the next_cursor of the previous page.",
            extra={"field": "cursor"},
        ) from None
