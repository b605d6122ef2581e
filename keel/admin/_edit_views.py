"""The add and change pages: the form, inlines, validation, conflicts and the audit log."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from markupsafe import Markup
from sqlalchemy.orm.exc import StaleDataError

from keel.admin._editing import (
    ORIGINAL_FIELD,
    Conflict,
    apply,
    conflicts,
    initial_of,
    save_or_explain,
    snapshot_field,
)
from keel.admin._inlines import InlineRows, bind_inline, blank_inline, save_inline
from keel.admin._meta import display_value, object_label, text_value
from keel.admin.models import ADD, CHANGE
from keel.db import Session
from keel.flash import flash
from keel.forms import BoundForm, see_other
from keel.requests import Request
from keel.responses import Response

if TYPE_CHECKING:
    from keel.admin.site import Admin, AdminContext, Registered
    from keel.routing import Router

__all__ = ["add_routes"]


def add_routes(site: Admin, router: Router) -> None:
    """The add and change routes of ``site``."""
    from keel.admin._views import log, open_model, open_object

    async def render_form(
        request: Request,
        session: Any,
        ctx: AdminContext,
        registered: Registered,
        *,
        obj: Any,
        form: BoundForm[Any] | None,
        inlines: list[InlineRows],
        status: int = 200,
        conflict: list[Conflict] | None = None,
    ) -> Response:
        plan = registered.form
        meta = registered.meta
        adding = obj is None
        editable = adding or ctx.can(registered, "change")
        _, searching = await plan.choices(session) if editable else ({}, set())
        labels = await plan.labels(session, obj, form) if editable else {}
        readonly: dict[str, Markup] = {}
        for name in plan.readonly if editable else [n for fs in plan.fieldsets for n in fs.fields]:
            value = getattr(obj, name, None) if obj is not None else None
            if callable(getattr(registered.admin, name, None)):
                value = getattr(registered.admin, name)(obj) if obj is not None else None
            column = meta.columns.get(name)
            if (
                column is not None
                and column.kind == "fk"
                and value is not None
                and column.fk_target is not None
            ):
                target = await session.get(column.fk_target, value)
                value = object_label(target) if target is not None else value
            readonly[name] = value if isinstance(value, Markup) else display_value(value, column)
        autocomplete = {}
        for name in searching:
            column = meta.columns[name]
            target = site.registered_for(column.fk_target) if column.fk_target else None
            autocomplete[name] = site.model_url(request, target, "autocomplete") if target else ""
        key = meta.pk_of(obj) if obj is not None else None
        context = {
            "ctx": ctx,
            "registered": registered,
            "obj": obj,
            "label": object_label(obj) if obj is not None else "",
            "adding": adding,
            "editable": editable,
            "form": form,
            "plan": plan,
            "readonly": readonly,
            "autocomplete": autocomplete,
            "labels": labels,
            "inlines": inlines if editable else [],
            "conflict": conflict,
            "original": snapshot_field(meta, obj) if obj is not None and editable else Markup(""),
            "can_delete": obj is not None and ctx.can(registered, "delete"),
            "delete_url": site.model_url(request, registered, key, "delete")
            if key is not None
            else "",
            "history_url": site.model_url(request, registered, key, "history")
            if key is not None
            else "",
            "prepopulated": plan.prepopulated,
        }
        return site.render(
            request, "change_form.html", context, registered=registered, status=status
        )

    def next_url(request: Request, registered: Registered, submitted: Any, key: Any) -> str:
        if submitted.get("_continue"):
            return site.model_url(request, registered, key, "change")
        if submitted.get("_addanother"):
            return site.model_url(request, registered, "add")
        return site.model_url(request, registered)

    @router.get("/{app_label}/{model_name}/add", include_in_schema=False)
    async def add_page(
        request: Request, app_label: str, model_name: str, session: Session
    ) -> Response:
        opened = await open_model(site, request, session, app_label, model_name, "add")
        if isinstance(opened, Response):
            return opened
        ctx, registered = opened
        choices, _ = await registered.form.choices(session)
        form = registered.form.form_class.blank(request, choices=choices)
        inlines = [await blank_inline(request, session, i, None) for i in registered.inlines]
        return await render_form(
            request, session, ctx, registered, obj=None, form=form, inlines=inlines
        )

    @router.post("/{app_label}/{model_name}/add", include_in_schema=False)
    async def add_submit(
        request: Request, app_label: str, model_name: str, session: Session
    ) -> Response:
        opened = await open_model(site, request, session, app_label, model_name, "add")
        if isinstance(opened, Response):
            return opened
        ctx, registered = opened
        plan = registered.form
        choices, _ = await plan.choices(session)
        form = await plan.form_class.bind(request, choices=choices)
        await plan.check_references(session, form)
        inlines = [await bind_inline(request, session, i, None) for i in registered.inlines]
        if form.valid and all(rows.valid for rows in inlines):
            obj = registered.model()
            changes: list[dict[str, Any]] = []

            async def create() -> None:
                changes.extend(apply(plan, obj, form.data))
                await registered.admin.save_model(request, session, obj, False)
                session.add(obj)
                await session.flush()
                for rows in inlines:
                    changes.extend(await save_inline(session, rows, registered.meta.pk_of(obj)))

            if await save_or_explain(session, form, plan, create):
                key = registered.meta.pk_of(obj)
                label = object_label(obj)
                added = [{"field": c["field"], "old": None, "new": c["new"]} for c in changes]
                await log(session, ctx, registered, key, label, ADD, added)
                flash(
                    request, f"The {registered.meta.verbose_name} “{label}” was added.", "success"
                )
                return see_other(next_url(request, registered, await request.form(), key))
        return await render_form(
            request, session, ctx, registered, obj=None, form=form, inlines=inlines, status=422
        )

    @router.get("/{app_label}/{model_name}/{object_id}/change", include_in_schema=False)
    async def change_page(
        request: Request, app_label: str, model_name: str, object_id: str, session: Session
    ) -> Response:
        found = await open_object(site, request, session, app_label, model_name, object_id, "view")
        if isinstance(found, Response):
            return found
        ctx, registered, obj = found
        form = None
        inlines: list[InlineRows] = []
        if ctx.can(registered, "change"):
            choices, _ = await registered.form.choices(session)
            initial = initial_of(registered.form, obj)
            form = registered.form.form_class.blank(request, initial=initial, choices=choices)
            key = registered.meta.pk_of(obj)
            inlines = [await blank_inline(request, session, i, key) for i in registered.inlines]
        return await render_form(
            request, session, ctx, registered, obj=obj, form=form, inlines=inlines
        )

    @router.post("/{app_label}/{model_name}/{object_id}/change", include_in_schema=False)
    async def change_submit(
        request: Request, app_label: str, model_name: str, object_id: str, session: Session
    ) -> Response:
        found = await open_object(
            site, request, session, app_label, model_name, object_id, "change"
        )
        if isinstance(found, Response):
            return found
        ctx, registered, obj = found
        meta, plan = registered.meta, registered.form
        key = meta.pk_of(obj)
        submitted = await request.form()
        choices, _ = await plan.choices(session)
        form = await plan.form_class.bind(request, choices=choices)
        await plan.check_references(session, form)
        inlines = [await bind_inline(request, session, i, key) for i in registered.inlines]
        raw_original = submitted.get(ORIGINAL_FIELD)
        changed = conflicts(meta, obj, str(raw_original) if raw_original is not None else None)
        if changed is None:
            form.add_error(
                None, "The form is incomplete: reload the page and make your changes again."
            )
        elif changed:
            return await render_form(
                request,
                session,
                ctx,
                registered,
                obj=obj,
                form=form,
                inlines=inlines,
                status=409,
                conflict=changed,
            )
        if form.valid and all(rows.valid for rows in inlines):
            label_before = object_label(obj)
            changes = []

            async def update() -> None:
                changes.extend(apply(plan, obj, form.data))
                await registered.admin.save_model(request, session, obj, True)
                await session.flush()
                for rows in inlines:
                    changes.extend(await save_inline(session, rows, key))

            try:
                saved = await save_or_explain(session, form, plan, update)
            except StaleDataError:
                await session.refresh(obj)
                stale = [
                    Conflict(k, meta.columns[k].label, None, text_value(getattr(obj, k)))
                    for k in [c["field"] for c in changes]
                    if k in meta.columns
                ]
                return await render_form(
                    request,
                    session,
                    ctx,
                    registered,
                    obj=obj,
                    form=form,
                    inlines=inlines,
                    status=409,
                    conflict=stale,
                )
            if saved:
                label = object_label(obj) or label_before
                if changes:
                    await log(session, ctx, registered, key, label, CHANGE, changes)
                    flash(request, f"The {meta.verbose_name} “{label}” was changed.", "success")
                else:
                    flash(request, "No fields changed.", "info")
                return see_other(next_url(request, registered, submitted, key))
            await session.refresh(obj)
        return await render_form(
            request, session, ctx, registered, obj=obj, form=form, inlines=inlines, status=422
        )
