"""The admin's pages: login, index, change list, delete, history, autocomplete."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from markupsafe import Markup, escape
from sqlalchemy import func, or_, select

from keel.admin._changelist import build_changelist
from keel.admin._deletion import consequences, delete_objects, protected
from keel.admin._edit_views import add_routes as add_edit_routes
from keel.admin._editing import snapshot as snapshot_values
from keel.admin._meta import display_value, object_label
from keel.admin.models import DELETE, LogEntry
from keel.auth import authenticate, login, logout
from keel.db import Session
from keel.errors import HTTPError
from keel.flash import flash
from keel.forms import see_other
from keel.ratelimit import by_ip
from keel.requests import Request
from keel.responses import JSONResponse, Response, safe_redirect
from keel.routing import Router

if TYPE_CHECKING:
    from keel.admin.site import Admin, AdminContext, Registered

__all__ = ["build_router", "log"]

MAX_SELECTED = 500
_BAD_LOGIN = "Enter the email (or username) and password of a staff account."


async def log(
    session: Any,
    ctx: AdminContext,
    registered: Registered | Any,
    obj_id: Any,
    label: str,
    action: str,
    changes: list[dict[str, Any]],
) -> None:
    """Record an action in the audit log (saved with the request's transaction)."""
    meta = registered.meta
    session.add(
        LogEntry(
            user_id=ctx.user.id,
            user_repr=str(ctx.user)[:254],
            app_label=meta.app_label,
            model_name=meta.model_name,
            object_id=str(obj_id)[:64],
            object_repr=label[:200],
            action=action,
            changes=changes,
        )
    )


def cells(
    site: Admin, request: Request, registered: Registered, columns: list[Any], obj: Any
) -> list[Markup]:
    """The escaped HTML of one change list row."""
    out = []
    prefix = site.model_url(request, registered) + "/"
    for column in columns:
        if column.method is not None:
            value = column.method(obj)
            html = value if isinstance(value, Markup) else display_value(value)
        elif column.key == "__str__":
            html = escape(object_label(obj))
        elif column.relationship is not None:
            html = display_value(object_label(getattr(obj, column.relationship)) or None)
        else:
            html = display_value(getattr(obj, column.key), column.meta)
        if column.link:
            url = prefix + quote(str(registered.meta.pk_of(obj)), safe="") + "/change"
            html = Markup("".join(('<a href="', escape(url), '">', html, "</a>")))
        out.append(html)
    return out


def build_router(site: Admin) -> Router:
    router = Router(site.path)
    name = site.name

    @router.get("/login", name=f"{name}:login", include_in_schema=False)
    async def login_page(request: Request) -> Response:
        user = request.scope.get("user")
        if user is not None and user.is_active and user.is_staff:
            return safe_redirect(request, request.query_params.get("next"), site.url(request))
        return site.render(
            request,
            "login.html",
            {"next": request.query_params.get("next", ""), "error": None, "username": ""},
        )

    @router.post("/login", include_in_schema=False)
    async def login_submit(request: Request, session: Session) -> Response:
        from keel.auth import auth_of

        form = await request.form()
        username = str(form.get("username", "") or "")[:254]
        password = str(form.get("password", "") or "")[:1024]
        target = str(form.get("next", "") or "")
        auth = auth_of(request.app)
        ip = by_ip(request)
        await auth.throttle.check(username, ip)
        user = await authenticate(session, username, password) if username and password else None
        if user is None or not user.is_staff:
            await auth.throttle.failed(username, ip)
            context = {"next": target, "error": _BAD_LOGIN, "username": username}
            return site.render(request, "login.html", context, status=400)
        await login(request, user)
        return safe_redirect(request, target, site.url(request))

    @router.post("/logout", name=f"{name}:logout", include_in_schema=False)
    async def logout_submit(request: Request) -> Response:
        await logout(request)
        return see_other(site.url(request, "login"))

    @router.get("", name=f"{name}:index", include_in_schema=False)
    async def index(request: Request, session: Session) -> Response:
        ctx = await site.guard(request, session)
        if isinstance(ctx, Response):
            return ctx
        groups: dict[str, list[dict[str, Any]]] = {}
        for registered in site.registered():
            if not ctx.can(registered, "view"):
                continue
            count = await session.scalar(select(func.count()).select_from(registered.model))
            groups.setdefault(registered.meta.app_label, []).append(
                {
                    "registered": registered,
                    "count": count,
                    "url": site.model_url(request, registered),
                    "add_url": site.model_url(request, registered, "add")
                    if ctx.can(registered, "add")
                    else None,
                }
            )
        recent = list(
            await session.scalars(
                select(LogEntry)
                .where(LogEntry.user_id == ctx.user.id)
                .order_by(LogEntry.id.desc())
                .limit(10)
            )
        )
        return site.render(request, "index.html", {"ctx": ctx, "groups": groups, "recent": recent})

    @router.get("/{app_label}/{model_name}", name=f"{name}:changelist", include_in_schema=False)
    async def changelist(
        request: Request, app_label: str, model_name: str, session: Session
    ) -> Response:
        opened = await open_model(site, request, session, app_label, model_name, "view")
        if isinstance(opened, Response):
            return opened
        ctx, registered = opened
        return await _render_changelist(request, session, ctx, registered)

    async def _render_changelist(
        request: Request, session: Any, ctx: AdminContext, registered: Registered, status: int = 200
    ) -> Response:
        pairs = list(request.query_params.multi_items())
        result = await build_changelist(session, registered.changelist, pairs)
        rows = [
            (registered.meta.pk_of(obj), cells(site, request, registered, result.columns, obj))
            for obj in result.rows
        ]
        actions = []
        if ctx.can(registered, "delete"):
            actions.append(
                ("delete_selected", f"Delete selected {registered.meta.verbose_name_plural}")
            )
        actions += [
            (a.name, a.description)
            for a in registered.actions.values()
            if ctx.can(registered, a.permission)
        ]
        context = {
            "ctx": ctx,
            "registered": registered,
            "cl": result,
            "rows": rows,
            "actions": actions,
            "can_add": ctx.can(registered, "add"),
            "search": bool(registered.changelist.search),
            "autocomplete_url": site.model_url(request, registered, "autocomplete"),
        }
        return site.render(
            request, "change_list.html", context, registered=registered, status=status
        )

    @router.post("/{app_label}/{model_name}", include_in_schema=False)
    async def changelist_action(
        request: Request, app_label: str, model_name: str, session: Session
    ) -> Response:
        opened = await open_model(site, request, session, app_label, model_name, "view")
        if isinstance(opened, Response):
            return opened
        ctx, registered = opened
        form = await request.form()
        chosen = str(form.get("action", "") or "")
        raw = [str(v) for v in form.getlist("_selected")]
        if len(raw) > MAX_SELECTED:
            raise HTTPError(400, f"Select at most {MAX_SELECTED} objects at a time.")
        keys = []
        for value in raw:
            key = registered.meta.parse_pk(value)
            if key is None:
                raise HTTPError(
                    400, f"{value[:40]!r} is not an id of {registered.meta.verbose_name_plural}."
                )
            keys.append(key)
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if chosen == "delete_selected":
            ctx.require(registered, "delete")
        elif chosen in registered.actions:
            ctx.require(registered, registered.actions[chosen].permission)
        else:
            raise HTTPError(400, "Choose one of the actions offered.")
        if not keys:
            flash(request, "Select some items to perform an action on them.", "warning")
            return see_other(back)
        model = registered.model
        pk = getattr(model, registered.meta.pk.key)
        objects = list(await session.scalars(select(model).where(pk.in_(keys)).order_by(pk)))
        if chosen == "delete_selected":
            return await _delete_selected(request, session, ctx, registered, objects, form, back)
        action = registered.actions[chosen]
        message = await action.function(request, session, objects)
        flash(
            request, message or f"{action.description}: done for {len(objects)} items.", "success"
        )
        return see_other(back)

    async def _delete_selected(
        request: Request,
        session: Any,
        ctx: AdminContext,
        registered: Registered,
        objects: list[Any],
        form: Any,
        back: str,
    ) -> Response:
        meta = registered.meta
        keys = [meta.pk_of(o) for o in objects]
        found = await consequences(session, registered.model, keys)
        if form.get("post") == "yes" and not protected(found):
            snapshots = [
                (meta.pk_of(o), object_label(o), snapshot_values(meta, o)) for o in objects
            ]
            if await delete_objects(session, registered.model, keys):
                for key, label, values in snapshots:
                    changes = [{"field": k, "old": v, "new": None} for k, v in values.items()]
                    await log(session, ctx, registered, key, label, DELETE, changes)
                flash(request, f"Deleted {len(keys)} {meta.verbose_name_plural}.", "success")
                return see_other(back)
            found = await consequences(session, registered.model, keys)
        context = {
            "ctx": ctx,
            "registered": registered,
            "objects": [(meta.pk_of(o), object_label(o)) for o in objects],
            "consequences": found,
            "protected": protected(found),
            "back": back,
        }
        return site.render(
            request, "delete_selected_confirmation.html", context, registered=registered
        )

    @router.get("/{app_label}/{model_name}/autocomplete", include_in_schema=False)
    async def autocomplete(
        request: Request, app_label: str, model_name: str, session: Session
    ) -> Response:
        opened = await open_model(site, request, session, app_label, model_name, "view")
        if isinstance(opened, Response):
            return opened
        ctx, registered = opened
        unknown = set(request.query_params) - {"term"}
        if unknown:
            raise HTTPError(400, f"Unknown autocomplete parameter {sorted(unknown)[0][:40]!r}.")
        term = request.query_params.get("term", "").strip()
        if len(term) > 200:
            raise HTTPError(400, "The search term is longer than 200 characters.")
        model, meta = registered.model, registered.meta
        pk = getattr(model, meta.pk.key)
        statement = select(model).order_by(pk).limit(20)
        if term:
            targets = [getattr(model, n) for n in registered.admin.search_fields if "__" not in n]
            if not targets:
                targets = [
                    getattr(model, k)
                    for k, c in meta.columns.items()
                    if c.kind in ("text", "longtext")
                ][:3]
            matches = [t.icontains(term, autoescape=True) for t in targets]
            key = meta.parse_pk(term)
            if key is not None and meta.pk.kind in ("int", "fk"):
                matches.append(pk == key)
            statement = statement.where(or_(*matches))
        results = [
            {"id": meta.pk_of(o), "text": object_label(o)} for o in await session.scalars(statement)
        ]
        return JSONResponse({"results": results}, headers={"Cache-Control": "no-store"})

    @router.get("/{app_label}/{model_name}/{object_id}/delete", include_in_schema=False)
    async def delete_page(
        request: Request, app_label: str, model_name: str, object_id: str, session: Session
    ) -> Response:
        found = await open_object(
            site, request, session, app_label, model_name, object_id, "delete"
        )
        if isinstance(found, Response):
            return found
        ctx, registered, obj = found
        return await _delete_page(request, session, ctx, registered, obj)

    async def _delete_page(
        request: Request, session: Any, ctx: AdminContext, registered: Registered, obj: Any
    ) -> Response:
        meta = registered.meta
        found = await consequences(session, registered.model, [meta.pk_of(obj)])
        context = {
            "ctx": ctx,
            "registered": registered,
            "obj": obj,
            "label": object_label(obj),
            "consequences": found,
            "protected": protected(found),
            "change_url": site.model_url(request, registered, meta.pk_of(obj), "change"),
        }
        return site.render(request, "delete_confirmation.html", context, registered=registered)

    @router.post("/{app_label}/{model_name}/{object_id}/delete", include_in_schema=False)
    async def delete_submit(
        request: Request, app_label: str, model_name: str, object_id: str, session: Session
    ) -> Response:
        found = await open_object(
            site, request, session, app_label, model_name, object_id, "delete"
        )
        if isinstance(found, Response):
            return found
        ctx, registered, obj = found
        meta = registered.meta
        key, label, values = meta.pk_of(obj), object_label(obj), snapshot_values(meta, obj)
        if not await delete_objects(session, registered.model, [key]):
            flash(request, f"{label} cannot be deleted: other objects still refer to it.", "error")
            return await _delete_page(request, session, ctx, registered, obj)
        changes = [{"field": k, "old": v, "new": None} for k, v in values.items()]
        await log(session, ctx, registered, key, label, DELETE, changes)
        flash(request, f"The {meta.verbose_name} “{label}” was deleted.", "success")
        return see_other(site.model_url(request, registered))

    @router.get("/{app_label}/{model_name}/{object_id}/history", include_in_schema=False)
    async def history(
        request: Request, app_label: str, model_name: str, object_id: str, session: Session
    ) -> Response:
        found = await open_object(site, request, session, app_label, model_name, object_id, "view")
        if isinstance(found, Response):
            return found
        ctx, registered, obj = found
        meta = registered.meta
        entries = list(
            await session.scalars(
                select(LogEntry)
                .where(
                    LogEntry.app_label == meta.app_label,
                    LogEntry.model_name == meta.model_name,
                    LogEntry.object_id == str(meta.pk_of(obj)),
                )
                .order_by(LogEntry.id.desc())
                .limit(200)
            )
        )
        context = {
            "ctx": ctx,
            "registered": registered,
            "obj": obj,
            "label": object_label(obj),
            "entries": entries,
            "change_url": site.model_url(request, registered, meta.pk_of(obj), "change"),
        }
        return site.render(request, "object_history.html", context, registered=registered)

    add_edit_routes(site, router)
    return router


async def open_object(
    site: Admin,
    request: Request,
    session: Any,
    app_label: str,
    model_name: str,
    object_id: str,
    permission: Literal["view", "add", "change", "delete"],
) -> tuple[AdminContext, Registered, Any] | Response:
    """The staff context, the registered model and the object of an object page, once the
    user may ``permission`` it; the login redirect for non-staff (403 for ``require``, 404
    for a missing model or object)."""
    opened = await open_model(site, request, session, app_label, model_name, permission)
    if isinstance(opened, Response):
        return opened
    ctx, registered = opened
    return ctx, registered, await get_object(session, registered, object_id)


async def open_model(
    site: Admin,
    request: Request,
    session: Any,
    app_label: str,
    model_name: str,
    permission: Literal["view", "add", "change", "delete"],
) -> tuple[AdminContext, Registered] | Response:
    """The staff context and the registered model of a model page, once the user may
    ``permission`` it; the login redirect for non-staff (403 for ``require``, 404 for an
    unknown model)."""
    ctx = await site.guard(request, session)
    if isinstance(ctx, Response):
        return ctx
    registered = site.lookup(app_label, model_name)
    ctx.require(registered, permission)
    return ctx, registered


async def get_object(session: Any, registered: Registered, raw: str) -> Any:
    """The object of a path segment, or a 404."""
    meta = registered.meta
    key = meta.parse_pk(raw)
    obj = await session.get(registered.model, key) if key is not None else None
    if obj is None:
        raise HTTPError(404, f"There is no {meta.verbose_name} with the id {raw[:40]!r}.")
    return obj
