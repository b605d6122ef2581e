"""FastAPI's (Starlette's) spelling of :mod:`keel.templates`, for ported code.

``from fastapi.templating import Jinja2Templates`` becomes
``from keel.templating import Jinja2Templates`` (``keel port`` rewrites it); the same
engine as :class:`keel.templates.Templates` renders the pages.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import jinja2

from keel import responses as _responses
from keel import templates as _templates

if TYPE_CHECKING:
    from keel.background import BackgroundTask
    from keel.requests import Request

__all__ = ["Jinja2Templates"]


class Jinja2Templates(_templates.Templates):
    """Starlette's ``Jinja2Templates``: ``templates.TemplateResponse(request, name, context)``.

    As in Starlette, ``url_for`` in these templates gives absolute URLs
    (``http://host/items/1``); :class:`~keel.templates.Templates` gives paths.

    Args:
        directory: The template folder(s).
        context_processors: ``fn(request) -> dict``, run for every render.
        env: A ready Jinja2 environment instead of ``directory``.
        **env_options: Further :class:`~keel.templates.Templates` options
            (``auto_reload``, ``undefined``, ``extensions``…).
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
        *,
        context_processors: Iterable[_templates.ContextProcessor] = (),
        env: jinja2.Environment | None = None,
        **env_options: Any,
    ) -> None:
        super().__init__(directory, env=env, context_processors=context_processors, **env_options)
        self.env.globals["url_for"] = _absolute_url_for

    def TemplateResponse(  # noqa: N802 (Starlette's name)
        self,
        *args: Any,
        **kwargs: Any,
    ) -> _responses.HTMLResponse:
        """``TemplateResponse(request, name, context=None, status_code=200, headers=None,
        media_type=None, background=None)``.

        The older order ``TemplateResponse(name, {"request": request, ...})`` works too.
        """
        if args and isinstance(args[0], str):  # the old order: the request in the context
            return self._old_style(*args, **kwargs)
        return self._new_style(*args, **kwargs)

    def _new_style(
        self,
        request: Request | None = None,
        name: str | None = None,
        context: Mapping[str, Any] | None = None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> _responses.HTMLResponse:
        if request is None:
            request = (context or {}).get("request")
        if request is None:
            raise TypeError("TemplateResponse() needs the request: (request, name, context)")
        if name is None:
            raise TypeError("TemplateResponse() needs the template name: (request, name, ...)")
        return self.render(
            request,
            name,
            context,
            status=status_code,
            headers=headers,
            media_type=media_type,
            background=background,
        )

    def _old_style(
        self,
        name: str,
        context: Mapping[str, Any] | None = None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> _responses.HTMLResponse:
        request = (context or {}).get("request")
        if request is None:
            raise ValueError('TemplateResponse(name, context): the context must have "request"')
        return self.render(
            request,
            name,
            context,
            status=status_code,
            headers=headers,
            media_type=media_type,
            background=background,
        )


@jinja2.pass_context
def _absolute_url_for(context: jinja2.runtime.Context, name: str, /, **params: Any) -> str:
    """Starlette's ``url_for``: the absolute URL of the route (or mount) ``name``."""
    return str(_templates.template_request(context, "url_for()").url_for(name, **params))
