"""The admin site: the registry of model admins, the login guard and the page rendering."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, urlencode

import jinja2

from keel._http import prefers_html
from keel.admin._changelist import _Plan, plan_of
from keel.admin._editing import FormPlan
from keel.admin._meta import ModelMeta
from keel.admin.options import Action, InlineModelAdmin, ModelAdmin
from keel.errors import HTTPError
from keel.responses import HTMLResponse, RedirectResponse, Response
from keel.templates import Templates

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from keel.app import App
    from keel.auth.models import AbstractUser
    from keel.requests import Request

__all__ = ["Admin", "AdminContext", "Inline", "Registered"]

_HERE = Path(__file__).parent
_Perm = Literal["view", "add", "change", "delete"]


@dataclass
class Inline:
    """An inline of a registered model, worked out once."""

    options: InlineModelAdmin[Any]
    meta: ModelMeta
    fk: str
    form: FormPlan
    prefix: str
    title: str


@dataclass
class Registered:
    """A registered model with its admin and everything derived from it at startup."""

    admin: ModelAdmin[Any]
    meta: ModelMeta
    changelist: _Plan
    form: FormPlan
    inlines: list[Inline]
    actions: dict[str, Action]

    @property
    def model(self) -> type[Any]:
        return self.meta.model

    def permission(self, action: str) -> str:
        return f"{self.meta.app_label}.{action}_{self.meta.model_name}"


class AdminContext:
    """The staff user of an admin request and what they may do."""

    def __init__(self, site: Admin, request: Request, user: AbstractUser, perms: set[str]) -> None:
        self.site = site
        self.request = request
        self.user = user
        self.perms = perms

    def can(self, registered: Registered, action: _Perm) -> bool:
        """Whether the user may ``action`` objects of the model (view: view or change)."""
        if self.user.is_superuser:
            return True
        if action == "view":
            return bool(
                {registered.permission("view"), registered.permission("change")} & self.perms
            )
        return registered.permission(action) in self.perms

    def require(self, registered: Registered, action: _Perm) -> None:
        """Refuse with 403 unless the user may ``action`` the model."""
        if not self.can(registered, action):
            raise HTTPError(
                403,
                f"You do not have permission to {action} {registered.meta.verbose_name_plural}.",
            )


class Admin:
    """The admin site of an app: ``admin = Admin(app)``, then ``admin.register(Model)``.

    Args:
        app: The app to serve the admin pages on (it needs keel.db and keel.auth set up).
        path: Where the pages live.
        title: The site's heading.
        templates: Folders searched before keel's own templates: a project overrides
            ``admin/change_list.html`` (every model) or
            ``admin/<app_label>/<model_name>/change_list.html`` (one model) there.
        name: Prefix of the admin's route names (two admin sites need two names).
    """

    def __init__(
        self,
        app: App,
        path: str = "/admin",
        *,
        title: str = "Administration",
        templates: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] = (),
        name: str = "admin",
    ) -> None:
        if not path.startswith("/") or path.endswith("/"):
            raise ValueError(f"The admin path starts with '/' and does not end with '/': {path!r}")
        self.app = app
        self.path = path
        self.title = title
        self.name = name
        self._registry: dict[tuple[str, str], Registered] = {}
        folders: list[str | os.PathLike[str]] = (
            [templates] if isinstance(templates, str | os.PathLike) else list(templates)
        )
        loader = jinja2.ChoiceLoader(
            [
                jinja2.FileSystemLoader([str(f) for f in folders]),
                jinja2.FileSystemLoader(str(_HERE / "templates")),
            ]
        )
        self.templates = Templates(loader=loader)
        self.templates.env.trim_blocks = True
        self.templates.env.lstrip_blocks = True
        from keel.admin._views import build_router

        app.include(build_router(self))
        app.static(f"{path}/static", _HERE / "static", name=f"{name}:static")
        app.on_startup(self._check)

    def _check(self) -> None:
        from keel.auth import auth_of

        try:
            auth_of(self.app)
        except Exception as exc:
            raise RuntimeError(
                "keel.admin logs staff in with keel.auth: call Auth().init_app(app) too"
            ) from exc

    # -- the registry ------------------------------------------------------------------------

    def register(
        self, model: type[Any], admin_class: type[ModelAdmin[Any]] | None = None
    ) -> ModelAdmin[Any]:
        """Show ``model`` in the admin, configured by ``admin_class`` (default: no options).

        ``admin.register(ArticleAdmin)`` works too when the class says its model
        (``ModelAdmin[Article]``). The configuration is checked here: a name that is no
        column of the model is a ``ValueError`` at startup, not a broken page later.
        """
        if isinstance(model, type) and issubclass(model, ModelAdmin) and admin_class is None:
            admin_class = model
            found = model.model_class()
            if found is None:
                raise TypeError(
                    f"{model.__name__} names no model: ModelAdmin[Model] or model = Model"
                )
            model = found
        cls = admin_class or ModelAdmin
        admin = cls(model, self)
        meta = ModelMeta.of(model, tuple(cls.url_fields))
        if cls.verbose_name:
            meta.verbose_name = cls.verbose_name
        if cls.verbose_name_plural:
            meta.verbose_name_plural = cls.verbose_name_plural
        key = (meta.app_label, meta.model_name)
        if key in self._registry:
            raise ValueError(f"{model.__name__} is registered in this admin already")
        form = FormPlan.of(
            admin,
            meta,
            fieldsets=cls.fieldsets,
            threshold=cls.autocomplete_threshold,
            prepopulated=cls.prepopulated_fields,
        )
        for target, sources in cls.prepopulated_fields.items():
            if target not in form.editable or any(s not in form.editable for s in sources):
                raise ValueError(
                    f"{cls.__name__}.prepopulated_fields: {target!r} and its sources "
                    "must be form fields"
                )
        inlines = [self._inline(meta, inline_class) for inline_class in cls.inlines]
        actions: dict[str, Action] = {}
        for entry in cls.actions:
            fn = getattr(admin, entry) if isinstance(entry, str) else entry.__get__(admin)
            marked: Action | None = getattr(fn, "admin_action", None)
            if marked is None:
                raise ValueError(f"{cls.__name__}.actions: mark {entry!r} with @action(...)")
            actions[marked.name] = Action(marked.name, marked.description, marked.permission, fn)
        registered = Registered(admin, meta, plan_of(admin, meta), form, inlines, actions)
        self._registry[key] = registered
        return admin

    def _inline(self, parent: ModelMeta, inline_class: type[InlineModelAdmin[Any]]) -> Inline:
        model = inline_class.model_class()
        if model is None:
            raise TypeError(f"{inline_class.__name__} names no model: TabularInline[Model]")
        meta = ModelMeta.of(model)
        candidates = [
            m.key
            for m in meta.columns.values()
            if m.fk_target is not None and m.fk_target is parent.model
        ]
        fk = inline_class.fk_name or (candidates[0] if len(candidates) == 1 else None)
        if fk is None or fk not in candidates:
            raise ValueError(
                f"{inline_class.__name__}: {model.__name__} needs exactly one foreign key to "
                f"{parent.model.__name__} (or fk_name); found {candidates}"
            )
        options = inline_class()
        form = FormPlan.of(options, meta, skip=(fk,))
        title = inline_class.verbose_name_plural or meta.verbose_name_plural
        return Inline(options, meta, fk, form, f"{meta.model_name}_set", title.capitalize())

    def registered(self) -> list[Registered]:
        """Every registered model, by app label then name."""
        return sorted(
            self._registry.values(), key=lambda r: (r.meta.app_label, r.meta.verbose_name_plural)
        )

    def lookup(self, app_label: str, model_name: str) -> Registered:
        """The registered model at ``/<app_label>/<model_name>`` (404 otherwise)."""
        found = self._registry.get((app_label, model_name))
        if found is None:
            raise HTTPError(404, "There is no such model in the admin.")
        return found

    def registered_for(self, model: type[Any]) -> Registered | None:
        return next((r for r in self._registry.values() if r.model is model), None)

    # -- requests ----------------------------------------------------------------------------

    def url(self, request: Request, *parts: Any, query: Mapping[str, Any] | None = None) -> str:
        """A URL below the admin: ``admin.url(request, "shop", "item", 3, "change")``."""
        root = request.scope.get("root_path", "")
        path = "/".join([root + self.path, *(quote(str(p), safe="") for p in parts)])
        return path + ("?" + urlencode(query) if query else "")

    def model_url(self, request: Request, registered: Registered, *parts: Any) -> str:
        return self.url(request, registered.meta.app_label, registered.meta.model_name, *parts)

    async def guard(self, request: Request, session: AsyncSession) -> AdminContext | Response:
        """The staff context of the request; a redirect to the login page (or a 403 for
        clients that do not ask for HTML) for everybody else."""
        user = request.scope.get("user")
        if (
            user is None
            or not getattr(user, "is_active", False)
            or not getattr(user, "is_staff", False)
        ):
            if not prefers_html(request.headers.get("accept")):
                raise HTTPError(403, "Log in to the admin with a staff account.")
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(
                self.url(request, "login", query={"next": target}), status_code=303
            )
        from keel.auth import get_permissions

        perms = set() if user.is_superuser else await get_permissions(session, user)
        return AdminContext(self, request, user, perms)

    def render(
        self,
        request: Request,
        names: str | Sequence[str],
        context: Mapping[str, Any],
        *,
        registered: Registered | None = None,
        status: int = 200,
    ) -> HTMLResponse:
        """Render the first template found of ``names`` (per-model overrides first)."""
        wanted = [names] if isinstance(names, str) else list(names)
        if registered is not None:
            meta = registered.meta
            wanted = [
                *(f"admin/{meta.app_label}/{meta.model_name}/{n}" for n in wanted),
                *(f"admin/{meta.app_label}/{n}" for n in wanted),
                *(f"admin/{n}" for n in wanted),
            ]
        else:
            wanted = [f"admin/{n}" for n in wanted]
        template = self.templates.env.select_template(wanted)
        values = self.templates.context(request, {"site": self, **context})
        headers = {"Cache-Control": "no-store"}
        return HTMLResponse(template.render(values), status, headers)
