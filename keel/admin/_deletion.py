"""What deleting objects takes with it: the rows the database deletes through ``ON DELETE
CASCADE``, the ones it unlinks (``SET NULL``) and the ones that block the delete."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, inspect, select
from sqlalchemy.exc import IntegrityError

from keel.admin._meta import _plural, _words, object_label

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["Consequence", "consequences", "delete_objects"]

SAMPLE = 10
MAX_DEPTH = 3


@dataclass
class Consequence:
    """Rows of one model affected by the delete."""

    model: type[Any]
    name: str
    how: str  # "deleted", "unlinked", "protected"
    count: int
    samples: list[str]
    children: list[Consequence] = field(default_factory=list)


def _referencing(model: type[Any]) -> list[tuple[type[Any], Any, Any, str | None]]:
    """``(child model, child column, parent column, ON DELETE rule)`` of every foreign key
    into ``model``'s table."""
    mapper = inspect(model)
    table = mapper.local_table
    found = []
    seen: set[tuple[Any, Any]] = set()
    for other in mapper.registry.mappers:
        for fk in other.local_table.foreign_keys:
            if fk.column.table is table and (other.local_table, fk.parent) not in seen:
                seen.add((other.local_table, fk.parent))
                found.append((other.class_, fk.parent, fk.column, fk.ondelete))
    return found


async def consequences(
    session: AsyncSession, model: type[Any], keys: Any, depth: int = 0
) -> list[Consequence]:
    """The rows that point at the rows ``keys`` (a select of their primary keys, or a list),
    by what the database will do to them; cascades followed ``MAX_DEPTH`` levels deep."""
    found: list[Consequence] = []
    if depth >= MAX_DEPTH:
        return found
    model_pk = inspect(model).primary_key[0]
    for child, column, parent_column, ondelete in _referencing(model):
        parent_keys = (
            keys if parent_column is model_pk else select(parent_column).where(model_pk.in_(keys))
        )
        condition = column.in_(parent_keys)
        count = int(
            await session.scalar(select(func.count()).select_from(child).where(condition)) or 0
        )
        if not count:
            continue
        rule = (ondelete or "").upper()
        how = (
            "deleted"
            if rule == "CASCADE"
            else "unlinked"
            if rule in ("SET NULL", "SET DEFAULT")
            else "protected"
        )
        rows = await session.scalars(select(child).where(condition).limit(SAMPLE))
        samples = [object_label(r) for r in rows]
        child_pk = inspect(child).primary_key[0]
        words = _words(child.__name__)
        item = Consequence(child, words if count == 1 else _plural(words), how, count, samples)
        if how == "deleted":
            item.children = await consequences(
                session, child, select(child_pk).where(condition), depth + 1
            )
        found.append(item)
    return found


def protected(found: Sequence[Consequence]) -> bool:
    """Whether something blocks the delete (a reference without ``ON DELETE``)."""
    return any(c.how == "protected" or protected(c.children) for c in found)


async def delete_objects(session: AsyncSession, model: type[Any], keys: list[Any]) -> bool:
    """Delete the rows by primary key in one statement (the database cascades);
    ``False`` when a reference blocks it (nothing is deleted)."""
    pk = inspect(model).primary_key[0]
    try:
        async with session.begin_nested():
            await session.execute(
                delete(model).where(pk.in_(keys)).execution_options(synchronize_session=False)
            )
    except IntegrityError:
        return False
    for obj in list(session.identity_map.values()):
        if isinstance(obj, model) and getattr(obj, pk.key, None) in keys:
            session.expunge(obj)
    return True
