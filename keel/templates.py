"""Server-rendered pages with Jinja2: ``templates = Templates("templates")``.

``templates.render(request, "page.html", {...})`` returns an :class:`~keel.responses.HTMLResponse`.
Every template sees ``request``, ``url_for(name, **params)``, ``static(path)``,
``csp_nonce()``, ``csrf_token()`` and ``csrf_input()``, plus what the context processors
add. Rendering is synchronous (``return templates.render(...)`` in any handler, as fast as
Jinja2 gets: templates compile once and are cached); :meth:`Templates.render_async`
renders with Jinja2's async mode, for templates that call coroutines.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from markupsafe import Markup

from keel.responses import HTMLResponse

if TYPE_CHECKING:
    from keel.background import BackgroundTask
    from keel.requests import Request

__all__ = ["ContextProcessor", "TemplateNotFound", "Templates", "template_request"]

ContextProcessor = Callable[["Request"], Mapping[str, Any]]
"""``fn(request) -> dict``: names added to the context of every template rendered."""

TemplateNotFound = jinja2.TemplateNotFound
"""Raised when no template has the name (its message lists the folders searched)."""

_AUTOESCAPE = ("html", "htm", "xml", "jinja", "j2")


class _Loader(jinja2.FileSystemLoader):
    """A folder loader whose misses name the folders searched."""

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        try:
            return super().get_source(environment, template)
        except jinja2.TemplateNotFound:
            where = ", ".join(str(Path(p).resolve()) for p in self.searchpath)
            raise jinja2.TemplateNotFound(
                template, f"Template {template!r} not found in {where}"
            ) from None


class Templates:
    """A folder (or folders) of Jinja2 templates rendered into HTML responses.

    Args:
        directory: The template folder, or a list of folders searched in order.
        loader: A Jinja2 loader instead of ``directory`` (``PackageLoader``, ``DictLoader``…).
        env: A ready Jinja2 environment instead of both (keel adds its globals to it; its
            ``auto_reload`` stays unless ``auto_reload`` is given).
        auto_reload: Re-read a template when its file changes; ``None`` (default): on when
            the rendering app has ``debug`` on.
        undefined: What an unknown variable renders as: Jinja2's ``Undefined`` (empty) by
            default, ``jinja2.StrictUndefined`` to make it an error.
        extensions: Jinja2 extensions.
        globals: Names every template sees.
        filters: Extra filters, ``{name: function}``.
        context_processors: ``fn(request) -> dict`` run for every render; their names are
            added to the context (the handler's context wins on a clash).
        static_url: Where ``static(path)`` points when the app has no static mount named
            ``"static"`` (a CDN for instance); by default the mount's path or ``/static``.

    Autoescaping is on for ``.html``, ``.htm``, ``.xml``, ``.jinja`` and ``.j2`` templates.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
        *,
        loader: jinja2.BaseLoader | None = None,
        env: jinja2.Environment | None = None,
        auto_reload: bool | None = None,
        undefined: type[jinja2.Undefined] = jinja2.Undefined,
        extensions: Sequence[str | type[jinja2.ext.Extension]] = (),
        globals: Mapping[str, Any] | None = None,
        filters: Mapping[str, Callable[..., Any]] | None = None,
        context_processors: Iterable[ContextProcessor] = (),
        static_url: str | None = None,
    ) -> None:
        if sum(x is not None for x in (directory, loader, env)) != 1:
            raise TypeError("Templates() takes one of directory=, loader= or env=")
        if env is None:
            if loader is None:
                folders: list[str | os.PathLike[str]] = (
                    [directory]
                    if isinstance(directory, str | os.PathLike)
                    else list(directory or ())
                )
                for folder in folders:
                    if not Path(folder).is_dir():
                        raise RuntimeError(f"Template directory {str(folder)!r} does not exist")
                loader = _Loader([os.fspath(f) for f in folders])
            env = jinja2.Environment(
                loader=loader,
                autoescape=jinja2.select_autoescape(_AUTOESCAPE, default_for_string=True),
                auto_reload=bool(auto_reload),
                undefined=undefined,
                extensions=list(extensions),
                cache_size=-1,  # keep every compiled template
            )
        elif auto_reload is not None:
            env.auto_reload = auto_reload
        else:
            auto_reload = env.auto_reload  # a given environment keeps its own setting
        self.env = env
        self.context_processors: list[ContextProcessor] = list(context_processors)
        self.static_url = static_url.rstrip("/") if static_url else None
        self._reload = auto_reload
        self._compiled: dict[str, jinja2.Template] = {}
        self._async_env: jinja2.Environment | None = None

        @jinja2.pass_context
        def static(context: jinja2.runtime.Context, path: str) -> str:
            return self.static_path(context.get("request"), path)

        env.globals.update(
            url_for=_url_for,
            static=static,
            csp_nonce=_csp_nonce,
            csrf_token=_csrf_token,
            csrf_input=_csrf_input,
            get_flashed_messages=_flashed,
        )
        env.globals.update(globals or {})
        env.filters.update(filters or {})

    # -- templates ---------------------------------------------------------------------------

    def get_template(self, name: str) -> jinja2.Template:
        """The compiled template ``name`` (compiled once; re-read on change if reloading).

        Raises:
            TemplateNotFound: no folder has it (the message names the folders).
        """
        if not self.env.auto_reload:
            template = self._compiled.get(name)
            if template is None:
                template = self._compiled[name] = self.env.get_template(name)
            return template
        return self.env.get_template(name)

    def context(self, request: Request, context: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """What a template rendered for ``request`` sees: ``request`` and ``user``
        (``request.user``), the context processors' names, then ``context``."""
        if self._reload is None:
            self._resolve_reload(request)
        values: dict[str, Any] = {"request": request, "user": request.user}
        for processor in self.context_processors:
            values.update(processor(request))
        if context:
            values.update(context)
        return values

    def _resolve_reload(self, request: Request) -> None:
        """``auto_reload=None``: follow the app's ``debug``, read from the first request."""
        app = request.scope.get("app")
        self._reload = bool(getattr(app, "debug", False))
        self.env.auto_reload = self._reload
        if self._async_env is not None:
            self._async_env.auto_reload = self._reload

    # -- rendering ---------------------------------------------------------------------------

    def render_string(
        self, request: Request, name: str, context: Mapping[str, Any] | None = None
    ) -> str:
        """The template ``name`` rendered for ``request`` (a string, no response)."""
        values = self.context(request, context)
        return self.get_template(name).render(values)

    def render(
        self,
        request: Request,
        name: str,
        context: Mapping[str, Any] | None = None,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> HTMLResponse:
        """Render ``name`` with ``context`` into an HTML response (synchronous).

        ``return templates.render(request, "page.html", {"items": items})`` in a handler.
        """
        body = self.render_string(request, name, context)
        return HTMLResponse(body, status, headers, media_type, background)

    def render_block(
        self,
        request: Request,
        name: str,
        block: str,
        context: Mapping[str, Any] | None = None,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
    ) -> HTMLResponse:
        """Render only ``{% block <block> %}`` of ``name``: a fragment for htmx-style updates.

        The block must be defined in ``name`` itself (not only in a template it extends).
        """
        template = self.get_template(name)
        render = _block(template, name, block)
        ctx = template.new_context(self.context(request, context))
        body = "".join(render(ctx))
        return HTMLResponse(body, status, headers, media_type)

    @property
    def async_env(self) -> jinja2.Environment:
        """The same environment in Jinja2's async mode (made on first use)."""
        if self._async_env is None:
            self._async_env = self.env.overlay(enable_async=True, cache_size=-1)
        return self._async_env

    async def render_async(
        self,
        request: Request,
        name: str,
        context: Mapping[str, Any] | None = None,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> HTMLResponse:
        """:meth:`render` in Jinja2's async mode: the template may call coroutine functions
        and iterate async iterators (they are awaited).
        ``return await templates.render_async(request, "page.html", {...})``."""
        values = self.context(request, context)
        body = await self.async_env.get_template(name).render_async(values)
        return HTMLResponse(body, status, headers, media_type, background)

    async def render_block_async(
        self,
        request: Request,
        name: str,
        block: str,
        context: Mapping[str, Any] | None = None,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
    ) -> HTMLResponse:
        """:meth:`render_block` in Jinja2's async mode."""
        template = self.async_env.get_template(name)
        render = _block(template, name, block)
        ctx = template.new_context(self.context(request, context))
        body = "".join([part async for part in render(ctx)])
        return HTMLResponse(body, status, headers, media_type)

    # -- static files ----------------------------------------------------------------------

    def static_path(self, request: Request | None, path: str) -> str:
        """The URL path of the static file ``path`` (what ``static(path)`` gives templates).

        Below the app's mount named ``"static"`` (``app.static()`` names it so), with the
        fingerprinted name from its ``staticfiles.json`` manifest when the app's ``debug``
        is off; else below ``static_url`` (``/static`` by default).
        """
        from urllib.parse import quote

        app = request.scope.get("app") if request is not None else None
        mounted = _static_mount(app)
        name = path.lstrip("/")
        if mounted is not None:
            prefix, files = mounted
            if not getattr(app, "debug", False):
                name = files.manifest.get(name, name)
        else:
            prefix = self.static_url if self.static_url is not None else "/static"
        if request is not None and prefix.startswith("/") and not prefix.startswith("//"):
            prefix = str(request.scope.get("root_path", "")) + prefix
        return f"{prefix}/{quote(name)}"


def _block(template: jinja2.Template, name: str, block: str) -> Callable[..., Any]:
    try:
        return template.blocks[block]
    except KeyError:
        known = ", ".join(sorted(template.blocks)) or "none"
        raise LookupError(
            f"Template {name!r} has no block {block!r} of its own (its blocks: {known})"
        ) from None


def template_request(context: jinja2.runtime.Context, what: str) -> Request:
    """The ``request`` of a template's context (an error naming ``what`` when absent)."""
    request = context.get("request")
    if request is None:
        raise RuntimeError(f"{what} needs the request: render with templates.render(request, ...)")
    return request  # type: ignore[no-any-return]


@jinja2.pass_context
def _url_for(context: jinja2.runtime.Context, name: str, /, **params: Any) -> str:
    """The path of the route (or mount, with ``path=``) called ``name``, below the app's
    root path."""
    request = template_request(context, "url_for()")
    path = request.app.url_path_for(name, **params)
    return str(request.scope.get("root_path", "")) + path


@jinja2.pass_context
def _csp_nonce(context: jinja2.runtime.Context) -> str:
    """This request's CSP nonce (``""`` without :class:`SecurityHeadersMiddleware`)."""
    from keel.middleware.security_headers import csp_nonce

    return csp_nonce(template_request(context, "csp_nonce()")) or ""


@jinja2.pass_context
def _csrf_token(context: jinja2.runtime.Context) -> str:
    """This session's CSRF token, for a form field or a header."""
    from keel.csrf import csrf_token

    return csrf_token(template_request(context, "csrf_token()"))


@jinja2.pass_context
def _csrf_input(context: jinja2.runtime.Context) -> Markup:
    """A hidden ``<input>`` carrying the CSRF token, for a ``<form method="post">``."""
    from keel.csrf import csrf_input

    return Markup(csrf_input(template_request(context, "csrf_input()")))


@jinja2.pass_context
def _flashed(
    context: jinja2.runtime.Context,
    with_categories: bool = False,
    category_filter: Sequence[str] = (),
) -> list[str] | list[tuple[str, str]]:
    """The flash messages waiting for this visitor (removed as they are shown)."""
    from keel.flash import get_flashed_messages

    request = template_request(context, "get_flashed_messages()")
    if with_categories:
        return get_flashed_messages(request, with_categories=True, category_filter=category_filter)
    return get_flashed_messages(request, category_filter=category_filter)


def _static_mount(app: Any) -> tuple[str, Any] | None:
    """``(path, StaticFiles)`` of the app's mount named ``"static"``, if any."""
    from keel.staticfiles import StaticFiles

    for mount in getattr(app, "mounts", ()):
        if mount.name == "static" and isinstance(mount.app, StaticFiles):
            return mount.path, mount.app
    return None
