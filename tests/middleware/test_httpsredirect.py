"""HTTPSRedirectMiddleware: plain HTTP gets a 307 to the same URL over HTTPS."""

from __future__ import annotations

from keel import App, Settings
from keel.middleware import HTTPSRedirectMiddleware, Middleware
from keel.middleware.trustedhost import TrustedHostMiddleware
from keel.testing import TestClient
from tests.problems import problem


def make_app() -> App:
    settings = Settings(allowed_hosts=["*"])
    app = App(settings=settings, middleware=[Middleware(HTTPSRedirectMiddleware)])

    @app.post("/items/{name}")
    async def create(name: str) -> dict[str, str]:
        return {"name": name}

    @app.get("/")
    async def home() -> str:
        return "home"

    return app


def test_http_is_redirected_with_307_keeping_path_and_query() -> None:
    client = TestClient(make_app(), follow_redirects=False)
    r = client.get("/?q=1&x=%20")
    assert (r.status_code, r.headers["location"]) == (307, "https://testserver/?q=1&x=%20")
    r = client.post("/items/a%2Fb", json={})
    assert (r.status_code, r.headers["location"]) == (307, "https://testserver/items/a%2Fb")
    r = client.get("/", headers={"host": "example.com:8080"})
    assert r.headers["location"] == "https://example.com:8080/"
    r = client.get("/", headers={"host": "example.com:80"})
    assert r.headers["location"] == "https://example.com/"


def test_https_passes_through() -> None:
    client = TestClient(make_app(), base_url="https://testserver")
    assert client.get("/").json() == "home"


def test_a_malformed_host_is_a_400_problem() -> None:
    app = App(middleware=[Middleware(HTTPSRedirectMiddleware)])  # the host check stays on
    client = TestClient(app, follow_redirects=False)
    problem(client.get("/", headers={"host": "evil.example/x"}), 400)


def test_starlettes_module_names_import() -> None:
    from keel.middleware.hosts import TrustedHostMiddleware as Hosts

    assert TrustedHostMiddleware is Hosts
