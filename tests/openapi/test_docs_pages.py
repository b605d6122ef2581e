"""The /openapi.json, /docs and /redoc routes and the assets they serve."""

from __future__ import annotations

import asyncio
import gzip
import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest

from keel import App
from keel._types import Message
from keel.openapi import docs
from keel.testing import TestClient

IDENTITY = {"accept-encoding": "identity"}


def make_app(**options: Any) -> App:
    app = App(title="Pages </script>", **options)

    @app.get("/items/{item_id}")
    async def get_item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    return app


def asgi_get(
    app: App, path: str, headers: dict[str, str] | None = None, root_path: str = ""
) -> tuple[int, dict[str, str], bytes]:
    """One raw ASGI GET (to control root_path and see compressed bodies as sent)."""
    messages: list[Message] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        messages.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": root_path + path,
        "root_path": root_path,
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            *((k.encode(), v.encode()) for k, v in (headers or {}).items()),
        ],
    }
    asyncio.run(app(scope, receive, send))
    start = messages[0]
    body = b"".join(m.get("body", b"") for m in messages[1:])
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, body


def test_openapi_json_route() -> None:
    app = make_app()
    with TestClient(app) as client:
        response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == app.openapi()
    assert "/openapi.json" not in response.json()["paths"]


def test_root_path_sets_servers_and_page_urls() -> None:
    app = make_app()
    status, _, body = asgi_get(app, "/openapi.json", root_path="/api")
    assert status == 200
    assert json.loads(body)["servers"] == [{"url": "/api"}]
    assert "servers" not in app.openapi()  # the cached document is not changed
    _, _, page = asgi_get(app, "/docs", root_path="/api")
    assert b'"url":"/api/openapi.json"' in page
    assert b'src="/api/docs/assets/swagger-ui-bundle.js?v=' in page


def test_swagger_ui_page_runs_no_inline_script() -> None:
    app = make_app()
    with TestClient(app) as client:
        response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self';" in csp
    assert "connect-src *" in csp
    page = response.text
    assert "<title>Pages &lt;/script&gt; - Swagger UI</title>" in page
    for tag in re.findall(r"<script[^>]*>", page):
        assert "src=" in tag or 'type="application/json"' in tag
    config = re.search(r'id="keel-docs-config" type="application/json">(.*?)</script>', page)
    assert config is not None
    assert json.loads(config.group(1)) == {
        "url": "/openapi.json",
        "oauth2RedirectUrl": "/docs/oauth2-redirect",
    }


def test_config_block_escapes_html() -> None:
    page = docs.swagger_ui_html(
        openapi_url="/o.json",
        title="t",
        assets_url="/a",
        parameters={"x": "</script><script>alert(1)</script>"},
        init_oauth={"clientId": "c"},
    )
    assert "</script><script>alert" not in page
    block = re.search(r'type="application/json">(.*?)</script>', page)
    assert block is not None
    config = json.loads(block.group(1))
    assert config["parameters"]["x"] == "</script><script>alert(1)</script>"
    assert config["initOAuth"] == {"clientId": "c"}


def test_swagger_assets_are_served_locally() -> None:
    app = make_app()
    with TestClient(app) as client:
        page = client.get("/docs").text
        urls = re.findall(r'(?:src|href)="(/docs/assets/[^"]+)"', page)
        assert {u.split("?")[0].rsplit("/", 1)[1] for u in urls} == {
            "swagger-ui.css",
            "favicon-32x32.png",
            "swagger-ui-bundle.js",
            "keel-swagger.js",
        }
        for url in urls:
            response = client.get(url, headers=IDENTITY)
            assert response.status_code == 200, url
            assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        js = client.get("/docs/assets/swagger-ui-bundle.js", headers=IDENTITY)
        assert js.headers["content-type"].startswith("text/javascript")
        assert b"SwaggerUIBundle" in js.content
        etag = js.headers["etag"]
        cached = client.get(
            "/docs/assets/swagger-ui-bundle.js", headers={**IDENTITY, "if-none-match": etag}
        )
        assert cached.status_code == 304
        assert cached.content == b""
        redirect = client.get("/docs/oauth2-redirect")
        assert "/docs/assets/oauth2-redirect.js?v=" in redirect.text
        assert client.get("/docs/assets/oauth2-redirect.js", headers=IDENTITY).status_code == 200


@pytest.mark.parametrize("name", ["index.html", "..%2F..%2Fsecret", "swagger-ui.js", "x"])
def test_unknown_assets_are_404_problems(name: str) -> None:
    app = make_app()
    with TestClient(app) as client:
        response = client.get(f"/docs/assets/{name}", headers=IDENTITY)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_assets_are_gzipped_when_accepted() -> None:
    app = make_app()
    status, headers, body = asgi_get(
        app, "/docs/assets/swagger-ui.css", {"accept-encoding": "gzip, br"}
    )
    assert status == 200
    assert headers["content-encoding"] == "gzip"
    assert headers["vary"] == "accept-encoding"
    plain = asgi_get(app, "/docs/assets/swagger-ui.css")[2]
    assert gzip.decompress(body) == plain
    assert len(body) < len(plain)


def test_redoc_page_and_assets() -> None:
    app = make_app()
    with TestClient(app) as client:
        response = client.get("/redoc")
        assert "img-src 'self' data:;" in response.headers["content-security-policy"]
        page = response.text
        assert "<title>Pages &lt;/script&gt; - ReDoc</title>" in page
        urls = re.findall(r'src="(/redoc/assets/[^"]+)"', page)
        assert [u.split("?")[0] for u in urls] == [
            "/redoc/assets/redoc.standalone.js",
            "/redoc/assets/keel-redoc.js",
        ]
        for url in urls:
            assert client.get(url, headers=IDENTITY).status_code == 200
        assert client.get("/redoc/assets/swagger-ui.css", headers=IDENTITY).status_code == 404


def test_none_disables_urls() -> None:
    app = make_app(docs_url=None, redoc_url="/reference")
    with TestClient(app) as client:
        assert client.get("/docs").status_code == 404
        assert client.get("/redoc").status_code == 404
        assert client.get("/reference").status_code == 200
        assert client.get("/openapi.json").status_code == 200
    hidden = make_app(openapi_url=None)
    with TestClient(hidden) as client:
        for path in ("/openapi.json", "/docs", "/redoc"):
            assert client.get(path).status_code == 404
    assert hidden.openapi()["paths"]  # the document itself is still available


def test_custom_urls_and_swagger_parameters() -> None:
    app = make_app(openapi_url="/api/schema.json", docs_url="/api/docs/")
    app.swagger_ui_parameters = {"docExpansion": "none"}
    with TestClient(app) as client:
        page = client.get("/api/docs/").text
        assert '"url":"/api/schema.json"' in page
        assert '"parameters":{"docExpansion":"none"}' in page
        assert "/api/docs/assets/swagger-ui-bundle.js" in page
        assert client.get("/api/schema.json").status_code == 200


def test_swagger_cdn_fallback_when_its_package_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(docs, "swagger_ui_dir", lambda: None)
    page = docs.swagger_ui_html(openapi_url="/o", title="t", assets_url="/docs/assets")
    assert f'src="{docs.SWAGGER_CDN}/swagger-ui-bundle.js"' in page
    assert 'src="/docs/assets/keel-swagger.js?v=' in page


def _asset_urls(page: str) -> list[str]:
    return re.findall(r'<(?:script|link)[^>]*?(?:src|href)="([^"]+)"', page)


@pytest.mark.parametrize("page_url", ["/docs", "/redoc"])
def test_pages_load_only_same_origin_assets(monkeypatch: pytest.MonkeyPatch, page_url: str) -> None:
    """A default install serves both pages offline, whatever else happens to be installed."""
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        if name.split(".")[0] in ("drf_spectacular_sidecar", "star_openapi_redoc"):
            return None  # not installed: keel must not need them
        return real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    docs._load.cache_clear()
    app = make_app()
    with TestClient(app) as client:
        response = client.get(page_url)
        csp = response.headers["content-security-policy"]
        assert "http" not in csp.replace("connect-src *", "")
        urls = _asset_urls(response.text)
        assert len(urls) >= 2
        for url in urls:
            assert url.startswith(f"{page_url}/assets/"), url
            asset = client.get(url, headers=IDENTITY)
            assert asset.status_code == 200, url
            assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
            again = client.get(url, headers={**IDENTITY, "if-none-match": asset.headers["etag"]})
            assert again.status_code == 304


def test_redoc_bundle_is_vendored_with_its_licence() -> None:
    folder = Path(docs.__file__).parent / "static" / "redoc"
    assert docs.REDOC_JS.parent == folder
    licence = (folder / "LICENSE").read_text()
    assert licence.startswith("The MIT License (MIT)")
    assert "Rebilly" in licence
    assert "ReDoc" in (folder / "redoc.standalone.js.LICENSE.txt").read_text()
    with TestClient(make_app()) as client:
        js = client.get("/redoc/assets/redoc.standalone.js")
        assert js.status_code == 200
        assert js.headers["content-type"].startswith("text/javascript")
        assert js.headers["cache-control"] == "public, max-age=86400"  # unversioned URL
        assert b"Redoc" in js.content
        assert js.content == docs.REDOC_JS.read_bytes()


def test_installed_packages_are_found() -> None:
    folder = docs.swagger_ui_dir()
    assert folder is not None
    assert folder.name.startswith("swagger-ui-5")
    assert docs.REDOC_JS.is_file()


def test_docs_assets_answer_conditional_requests_by_the_rules() -> None:
    """The same If-None-Match comparison as static files: lists, weak tags and ``*``."""
    with TestClient(make_app()) as client:
        url = "/docs/assets/keel-swagger.js"
        etag = client.get(url, headers=IDENTITY).headers["etag"]
        for header in (etag, f'"x", {etag}', f"W/{etag}", "*"):
            cached = client.get(url, headers={**IDENTITY, "if-none-match": header})
            assert cached.status_code == 304 and cached.content == b"", header
        inner = etag[1:-1]
        for header in (f'"{inner}-gzip"', f'"x{inner}"', f"{etag[:-1]}, x"):
            again = client.get(url, headers={**IDENTITY, "if-none-match": header})
            assert again.status_code == 200, header
