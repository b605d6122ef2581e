from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from keel import App
from keel._types import Message
from keel.staticfiles import StaticFiles
from keel.testing import TestClient
from tests.problems import problem, raw_problem


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "static"
    (root / "css").mkdir(parents=True)
    (root / "css" / "app.css").write_text("body{}")
    (root / "docs").mkdir()
    (root / "docs" / "index.html").write_text("<h1>docs</h1>")
    (tmp_path / "secret.txt").write_text("top secret")
    os.symlink(tmp_path / "secret.txt", root / "leak.txt")
    os.symlink(root / "css" / "app.css", root / "alias.css")
    return root


def app_for(root: Path, **options: Any) -> App:
    app = App()
    app.mount("/static", StaticFiles(directory=root, **options))
    return app


def raw_get(app: App, path: str) -> list[Message]:
    """Request a path exactly as given (test clients normalize `..` away); what was sent."""
    sent: list[Message] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "headers": [(b"host", b"testserver")],
        "query_string": b"",
    }
    asyncio.run(app(scope, receive, send))
    return sent


def test_serves_files_with_validators(site: Path) -> None:
    client = TestClient(app_for(site))
    r = client.get("/static/css/app.css")
    assert r.status_code == 200
    assert r.text == "body{}"
    assert r.headers["content-type"].startswith("text/css")
    assert "etag" in r.headers and "last-modified" in r.headers
    head = client.head("/static/css/app.css")
    assert head.status_code == 200 and head.content == b""
    again = client.get("/static/css/app.css", headers={"if-none-match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    since = client.get(
        "/static/css/app.css", headers={"if-modified-since": r.headers["last-modified"]}
    )
    assert since.status_code == 304


def test_missing_and_hostile_paths_are_404(site: Path) -> None:
    app = app_for(site)
    client = TestClient(app)
    problem(client.get("/static/nope.css"), 404)
    for path in (
        "/static/../secret.txt",
        "/static/css/../../secret.txt",
        "/static/css/app.css\x00.txt",
        "/static/..\\secret.txt",
        "/static/leak.txt",  # a symlink that leads out of the folder
        "/static/docs",  # a folder, without html=True
        "/static//etc/passwd",
    ):
        raw_problem(raw_get(app, path), 404)


def test_symlinks_inside_the_folder(site: Path) -> None:
    assert TestClient(app_for(site)).get("/static/alias.css").text == "body{}"
    raw_problem(raw_get(app_for(site, follow_symlinks=False), "/static/alias.css"), 404)


def test_html_mode(site: Path) -> None:
    (site / "404.html").write_text("<p>lost</p>")
    client = TestClient(app_for(site, html=True))
    assert client.get("/static/docs").text == "<h1>docs</h1>"
    missing = client.get("/static/nothing")
    assert missing.status_code == 404 and missing.text == "<p>lost</p>"


def test_only_get_and_head(site: Path) -> None:
    r = TestClient(app_for(site)).post("/static/css/app.css")
    problem(r, 405)
    assert r.headers["allow"] == "GET, HEAD"


def test_missing_directory_is_a_startup_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="does not exist"):
        StaticFiles(directory=tmp_path / "nope")


def test_errors_of_a_mounted_folder_go_through_the_apps_handlers(site: Path) -> None:
    from keel import HTTPError, Request
    from keel.responses import JSONResponse

    app = app_for(site)

    @app.exception_handler(HTTPError)
    async def own_format(request: Request, exc: HTTPError) -> JSONResponse:
        return JSONResponse({"message": exc.detail}, status=exc.status, headers=exc.headers)

    client = TestClient(app)
    missing = client.get("/static/nope.css")
    assert (missing.status_code, missing.json()) == (404, {"message": "No such file"})
    post = client.post("/static/css/app.css")
    assert (post.status_code, post.headers["allow"]) == (405, "GET, HEAD")
    assert post.json() == {"message": "Static files answer GET and HEAD only"}


def test_a_mounted_folder_speaks_the_apps_error_format(site: Path) -> None:
    from keel.error_formats import FastAPIErrors

    app = App(error_format=FastAPIErrors())
    app.mount("/static", StaticFiles(directory=site))
    r = TestClient(app).get("/static/nope.css")
    assert (r.status_code, r.json()) == (404, {"detail": "No such file"})


def test_a_standalone_folder_renders_problems_itself(site: Path) -> None:
    problem(TestClient(StaticFiles(directory=site)).get("/nope.css"), 404)


def test_if_none_match_lists_weak_tags_and_star(site: Path) -> None:
    client = TestClient(app_for(site))
    etag = client.get("/static/css/app.css").headers["etag"]
    for header in (f'"other", {etag}', f"W/{etag}", "*", f'"x",W/{etag}'):
        r = client.get("/static/css/app.css", headers={"if-none-match": header})
        assert r.status_code == 304 and r.content == b"", header
        assert r.headers["etag"] == etag
    fresh = client.get("/static/css/app.css", headers={"if-none-match": '"other"'})
    assert fresh.status_code == 200 and fresh.text == "body{}"
