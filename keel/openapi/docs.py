"""The interactive documentation pages: Swagger UI at ``/docs`` and ReDoc at ``/redoc``.

Assets are served by keel itself, so the pages work without internet access: Swagger UI
(5.x, needed for OpenAPI 3.1) from the ``swagger-ui-bundle-v2`` dependency (import name
``swagger_ui_bundle``; located, never imported; if it is missing Swagger UI falls back to a
CDN), and ReDoc's standalone bundle from a copy vendored in keel
(``keel/openapi/static/redoc``, MIT, with its licence). The pages run no inline script: their
configuration travels in a JSON ``<script type="application/json">`` block read by a small
script served next to the assets, so a strict ``script-src 'self'`` policy allows them.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import html
import importlib.util
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keel._http import not_modified
from keel.errors import HTTPError
from keel.requests import Request
from keel.responses import HTMLResponse, Response

if TYPE_CHECKING:
    from keel.app import App

__all__ = [
    "REDOC_JS",
    "SWAGGER_CDN",
    "install_docs_routes",
    "redoc_html",
    "swagger_ui_dir",
    "swagger_ui_html",
]

logger = logging.getLogger("keel.openapi")

SWAGGER_CDN = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5"

_SWAGGER_FILES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
    "oauth2-redirect.js": "text/javascript",
}
REDOC_JS = Path(__file__).parent / "static" / "redoc" / "redoc.standalone.js"

_SWAGGER_INIT_JS = """\
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("keel-docs-config").textContent);
  var options = Object.assign({
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null
  }, config.parameters || {});
  options.url = config.url;
  options.presets = [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset];
  options.plugins = [SwaggerUIBundle.plugins.DownloadUrl];
  if (config.oauth2RedirectUrl) {
    options.oauth2RedirectUrl = new URL(config.oauth2RedirectUrl, window.location.href).href;
  }
  window.ui = SwaggerUIBundle(options);
  if (config.initOAuth) {
    window.ui.initOAuth(config.initOAuth);
  }
})();
"""

_REDOC_INIT_JS = """\
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("keel-docs-config").textContent);
  Redoc.init(config.url, config.options || {}, document.getElementById("redoc-container"));
})();
"""


@dataclass(frozen=True)
class _Asset:
    content: bytes
    media_type: str
    etag: str

    @functools.cached_property
    def gzipped(self) -> bytes:
        return gzip.compress(self.content, compresslevel=6, mtime=0)


def _make_asset(content: bytes, media_type: str) -> _Asset:
    digest = hashlib.sha256(content).hexdigest()[:16]
    return _Asset(content, media_type, f'"{digest}"')


def _package_dir(package: str) -> Path | None:
    """The folder of an installed package, found without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _version(path: Path) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path.name)[:3])


@functools.lru_cache(maxsize=1)
def swagger_ui_dir() -> Path | None:
    """The installed Swagger UI 5 distribution folder, or ``None`` (then the CDN is used)."""
    root = _package_dir("swagger_ui_bundle")
    if root is None:
        return None
    found = sorted((root / "vendor").glob("swagger-ui-*"), key=_version)
    if not found:
        return None
    best = found[-1]
    if _version(best)[:1] < (5,):
        logger.warning(
            "swagger_ui_bundle ships Swagger UI %s, which cannot show OpenAPI 3.1; "
            "install swagger-ui-bundle-v2. Using the CDN instead.",
            best.name,
        )
        return None
    return best


@functools.lru_cache(maxsize=16)
def _load(name: str) -> _Asset | None:
    if name == "keel-swagger.js":
        return _make_asset(_SWAGGER_INIT_JS.encode(), "text/javascript")
    if name == "keel-redoc.js":
        return _make_asset(_REDOC_INIT_JS.encode(), "text/javascript")
    if name == "redoc.standalone.js":
        return _make_asset(REDOC_JS.read_bytes(), "text/javascript")
    folder = swagger_ui_dir()
    if name in _SWAGGER_FILES and folder is not None and (folder / name).is_file():
        return _make_asset((folder / name).read_bytes(), _SWAGGER_FILES[name])
    return None


def _asset_response(request: Request, name: str, allowed: frozenset[str]) -> Response:
    asset = _load(name) if name in allowed else None
    if asset is None:
        raise HTTPError(404, f"No documentation asset named {name[:60]!r}")
    # Pages ask for ``name?v=<hash of the content>``: that URL never changes meaning.
    versioned = request.query_params.get("v") == _version_of(asset)
    headers = {
        "cache-control": _IMMUTABLE if versioned else "public, max-age=86400",
        "etag": asset.etag,
        "vary": "accept-encoding",
        "x-content-type-options": "nosniff",
    }
    if not_modified(request.headers, asset.etag, None):
        return Response(b"", 304, headers)
    content = asset.content
    if len(content) > 1024 and "gzip" in request.headers.get("accept-encoding", ""):
        content = asset.gzipped
        headers["content-encoding"] = "gzip"
    return Response(content, 200, headers, media_type=asset.media_type)


_IMMUTABLE = "public, max-age=31536000, immutable"


def _version_of(asset: _Asset) -> str:
    return asset.etag.strip('"')[:10]


def _asset_url(base: str, name: str) -> str:
    asset = _load(name)
    version = _version_of(asset) if asset else "0"
    return f"{base}/{name}?v={version}"


def _config_block(config: Mapping[str, Any]) -> str:
    text = json.dumps(config, ensure_ascii=True, separators=(",", ":"), default=str)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script id="keel-docs-config" type="application/json">{text}</script>'


def swagger_ui_html(
    *,
    openapi_url: str,
    title: str,
    assets_url: str,
    oauth2_redirect_url: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    init_oauth: Mapping[str, Any] | None = None,
) -> str:
    """The Swagger UI page for the document at ``openapi_url``.

    Args:
        openapi_url: URL of the OpenAPI document.
        title: Page title.
        assets_url: URL prefix where keel serves the assets (``{docs_url}/assets``).
        oauth2_redirect_url: The OAuth2 redirect page (for authorization-code flows).
        parameters: Extra Swagger UI options (``{"docExpansion": "none"}``…).
        init_oauth: Options for ``ui.initOAuth`` (``{"clientId": ...}``).
    """
    local = swagger_ui_dir() is not None
    css = _asset_url(assets_url, "swagger-ui.css") if local else f"{SWAGGER_CDN}/swagger-ui.css"
    bundle = (
        _asset_url(assets_url, "swagger-ui-bundle.js")
        if local
        else f"{SWAGGER_CDN}/swagger-ui-bundle.js"
    )
    icon = (
        _asset_url(assets_url, "favicon-32x32.png") if local else f"{SWAGGER_CDN}/favicon-32x32.png"
    )
    config: dict[str, Any] = {"url": openapi_url}
    if oauth2_redirect_url:
        config["oauth2RedirectUrl"] = oauth2_redirect_url
    if parameters:
        config["parameters"] = dict(parameters)
    if init_oauth:
        config["initOAuth"] = dict(init_oauth)
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)} - Swagger UI</title>\n"
        f'<link rel="stylesheet" href="{html.escape(css)}">\n'
        f'<link rel="icon" type="image/png" href="{html.escape(icon)}">\n'
        '</head>\n<body>\n<div id="swagger-ui"></div>\n'
        f"{_config_block(config)}\n"
        f'<script src="{html.escape(bundle)}"></script>\n'
        f'<script src="{html.escape(_asset_url(assets_url, "keel-swagger.js"))}"></script>\n'
        "</body>\n</html>\n"
    )


def redoc_html(
    *, openapi_url: str, title: str, assets_url: str, options: Mapping[str, Any] | None = None
) -> str:
    """The ReDoc page for the document at ``openapi_url`` (assets under ``assets_url``)."""
    script = _asset_url(assets_url, "redoc.standalone.js")
    config: dict[str, Any] = {"url": openapi_url, "options": dict(options or {})}
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)} - ReDoc</title>\n"
        "<style>body{margin:0;padding:0}</style>\n"
        '</head>\n<body>\n<div id="redoc-container"></div>\n'
        f"{_config_block(config)}\n"
        f'<script src="{html.escape(script)}"></script>\n'
        f'<script src="{html.escape(_asset_url(assets_url, "keel-redoc.js"))}"></script>\n'
        "</body>\n</html>\n"
    )


def _oauth2_redirect_html(assets_url: str) -> str:
    local = swagger_ui_dir() is not None
    script = (
        _asset_url(assets_url, "oauth2-redirect.js")
        if local
        else f"{SWAGGER_CDN}/oauth2-redirect.js"
    )
    return (
        '<!doctype html>\n<html lang="en">\n<head><meta charset="utf-8">'
        "<title>Swagger UI: OAuth2 Redirect</title></head>\n"
        f'<body><script src="{html.escape(script)}"></script></body>\n</html>\n'
    )


def _csp(*, cdn: str = "", connect: str = "'self'", redoc: bool = False) -> str:
    """The pages' Content-Security-Policy: local (or CDN) assets only, no inline script.

    It also keeps ReDoc from loading its sidebar logo from the vendor's CDN.
    """
    extra = f" {cdn}" if cdn else ""
    parts = [
        "default-src 'self'",
        f"script-src 'self'{extra}",
        f"style-src 'self' 'unsafe-inline'{extra}",
        f"img-src 'self' data:{extra}",
        "font-src 'self' data:",
        f"connect-src {connect}",
        "frame-ancestors 'self'",
    ]
    if redoc:
        parts.append("worker-src 'self' blob:")
    return "; ".join(parts)


_CDN_ORIGIN = "https://cdn.jsdelivr.net"


def _root(request: Request) -> str:
    root = request.scope.get("root_path", "")
    return str(root).rstrip("/") if root else ""


def install_docs_routes(app: App) -> None:
    """Add the OpenAPI JSON, Swagger UI and ReDoc routes the app's URLs ask for.

    Called by the app once, at its first compile. ``None`` URLs add nothing; the pages need
    ``openapi_url``.
    """
    from keel.openapi import openapi_json_bytes

    openapi_url = app.openapi_url
    if not openapi_url:
        return

    async def openapi_json(request: Request) -> Response:
        return Response(openapi_json_bytes(app, _root(request)), media_type="application/json")

    app.add_route(openapi_url, openapi_json, ["GET"], include_in_schema=False, name="openapi")
    if app.docs_url:
        _add_swagger_routes(app, app.docs_url, openapi_url)
    if app.redoc_url:
        _add_redoc_routes(app, app.redoc_url, openapi_url)


def _add_swagger_routes(app: App, docs_url: str, openapi_url: str) -> None:
    base = docs_url.rstrip("/")
    redirect = f"{base}/oauth2-redirect"
    allowed = frozenset({*_SWAGGER_FILES, "keel-swagger.js"})

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = _root(request)
        page = swagger_ui_html(
            openapi_url=root + openapi_url,
            title=app.title,
            assets_url=f"{root}{base}/assets",
            oauth2_redirect_url=root + redirect,
            parameters=getattr(app, "swagger_ui_parameters", None),
            init_oauth=getattr(app, "swagger_ui_init_oauth", None),
        )
        # "Try it out" may call any server the document lists, so connect-src stays open.
        cdn = "" if swagger_ui_dir() is not None else _CDN_ORIGIN
        headers = {
            "content-security-policy": _csp(cdn=cdn, connect="*"),
            # "Authorize" opens the OAuth2 login in a popup that must keep its opener.
            "cross-origin-opener-policy": "same-origin-allow-popups",
            "x-frame-options": "SAMEORIGIN",
        }
        return HTMLResponse(page, headers=headers)

    async def swagger_ui_redirect(request: Request) -> HTMLResponse:
        page = _oauth2_redirect_html(f"{_root(request)}{base}/assets")
        # The popup comes back here from the authorization server and hands the result to
        # its opener, which a stricter opener policy would have cut off.
        return HTMLResponse(page, headers={"cross-origin-opener-policy": "unsafe-none"})

    async def swagger_ui_asset(request: Request, name: str) -> Response:
        return _asset_response(request, name, allowed)

    _add(app, docs_url, swagger_ui, "swagger_ui")
    _add(app, redirect, swagger_ui_redirect, "swagger_ui_oauth2_redirect")
    _add(app, base + "/assets/{name}", swagger_ui_asset, "swagger_ui_asset")


def _add_redoc_routes(app: App, redoc_url: str, openapi_url: str) -> None:
    base = redoc_url.rstrip("/")
    allowed = frozenset({"redoc.standalone.js", "keel-redoc.js"})

    async def redoc(request: Request) -> HTMLResponse:
        root = _root(request)
        page = redoc_html(
            openapi_url=root + openapi_url,
            title=app.title,
            assets_url=f"{root}{base}/assets",
            options=getattr(app, "redoc_options", None),
        )
        headers = {"content-security-policy": _csp(redoc=True), "x-frame-options": "SAMEORIGIN"}
        return HTMLResponse(page, headers=headers)

    async def redoc_asset(request: Request, name: str) -> Response:
        return _asset_response(request, name, allowed)

    _add(app, redoc_url, redoc, "redoc")
    _add(app, base + "/assets/{name}", redoc_asset, "redoc_asset")


def _add(app: App, path: str, handler: Callable[..., Any], name: str) -> None:
    app.add_route(path, handler, ["GET"], include_in_schema=False, name=name)
