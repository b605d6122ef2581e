"""Inline child rows on a parent's change page: show, bind, validate and save them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from keel.admin._deletion import delete_objects
from keel.admin._editing import apply, initial_of
from keel.admin._meta import object_label
from keel.errors import HTTPError
from keel.forms import BoundForm

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from keel.admin.site import Inline
    from keel.requests import Request

__all__ = ["InlineRows", "bind_inline", "blank_inline", "save_inline"]


@dataclass
class Row:
    """One child row: its form, and the existing object (``None`` for a new row)."""

    form: BoundForm[Any]
    obj: Any = None
    pk: str = ""
    delete: bool = False
    skip: bool = False


@dataclass
class InlineRows:
    """The rows of one inline on the page."""

    inline: Inline
    rows: list[Row] = field(default_factory=list)
    choices: dict[str, list[tuple[Any, str]]] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return all(r.form.valid or r.skip or r.delete for r in self.rows)

    @property
    def prefix(self) -> str:
        return self.inline.prefix


async def _children(session: AsyncSession, inline: Inline, parent_pk: Any) -> list[Any]:
    if parent_pk is None:
        return []
    model = inline.meta.model
    pk = getattr(model, inline.meta.pk.key)
    statement = (
        select(model)
        .where(getattr(model, inline.fk) == parent_pk)
        .order_by(pk)
        .limit(inline.options.max_num)
    )
    return list(await session.scalars(statement))


async def blank_inline(
    request: Request, session: AsyncSession, inline: Inline, parent_pk: Any
) -> InlineRows:
    """The rows to show on a GET: the existing children, then ``extra`` empty rows."""
    choices, _ = await inline.form.choices(session)
    out = InlineRows(inline, choices=choices)
    children = await _children(session, inline, parent_pk)
    for i, child in enumerate(children):
        form = inline.form.form_class.blank(
            request,
            initial=initial_of(inline.form, child),
            choices=choices,
            prefix=f"{inline.prefix}-{i}-",
        )
        out.rows.append(Row(form, child, str(inline.meta.pk_of(child))))
    for j in range(inline.options.extra):
        i = len(children) + j
        form = inline.form.form_class.blank(
            request, choices=choices, prefix=f"{inline.prefix}-{i}-"
        )
        out.rows.append(Row(form))
    return out


async def bind_inline(
    request: Request, session: AsyncSession, inline: Inline, parent_pk: Any
) -> InlineRows:
    """The posted rows, validated; a row naming a child of another parent is a 400."""
    submitted = await request.form()
    choices, _ = await inline.form.choices(session)
    out = InlineRows(inline, choices=choices)
    existing = {str(inline.meta.pk_of(c)): c for c in await _children(session, inline, parent_pk)}
    raw_total = str(submitted.get(f"{inline.prefix}-TOTAL", "0"))
    limit = inline.options.max_num + inline.options.extra
    if not raw_total.isdigit() or int(raw_total[:6]) > limit:
        raise HTTPError(400, f"The form's {inline.prefix}-TOTAL must be a number up to {limit}.")
    for i in range(int(raw_total)):
        prefix = f"{inline.prefix}-{i}-"
        raw_pk = str(submitted.get(prefix + "id", "") or "")
        delete = str(submitted.get(prefix + "DELETE", "") or "") not in ("", "off", "false")
        child = None
        if raw_pk:
            child = existing.get(raw_pk)
            if child is None:
                raise HTTPError(
                    400, f"Row {i} of {inline.title.lower()} is not a child of this object."
                )
        else:
            filled = any(
                str(submitted.get(prefix + name, "") or "") != "" for name in inline.form.editable
            )
            if not filled:
                blank = inline.form.form_class.blank(request, choices=choices, prefix=prefix)
                out.rows.append(Row(blank, skip=True))
                continue
        form = await inline.form.form_class.bind(request, choices=choices, prefix=prefix)
        if child is None and delete:
            out.rows.append(Row(form, skip=True))
            continue
        await inline.form.check_references(session, form)
        out.rows.append(Row(form, child, raw_pk, delete=delete))
    return out


async def save_inline(
    session: AsyncSession, rows: InlineRows, parent_pk: Any
) -> list[dict[str, str | None]]:
    """Write the rows (add, change, delete); the changes for the parent's audit entry."""
    inline = rows.inline
    model = inline.meta.model
    changes: list[dict[str, str | None]] = []
    deleted = []
    name = inline.meta.verbose_name
    for row in rows.rows:
        if row.skip:
            continue
        if row.delete and row.obj is not None:
            deleted.append(inline.meta.pk_of(row.obj))
            changes.append(
                {"field": f"{name} “{object_label(row.obj)}”", "old": "present", "new": "deleted"}
            )
            continue
        target = row.obj
        if target is None:
            target = model(**{inline.fk: parent_pk})
            session.add(target)
            for change in apply(inline.form, target, row.form.data):
                changes.append({**change, "field": f"new {name}: {change['field']}"})
            continue
        for change in apply(inline.form, target, row.form.data):
            changes.append(
                {**change, "field": f"{name} “{object_label(target)}”: {change['field']}"}
            )
    if deleted and not await delete_objects(session, model, deleted):
        raise HTTPError(409, f"A {name} you deleted is still referenced elsewhere.")
    return changes
