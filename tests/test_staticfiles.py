from __future__ import annotations

import asyncio
import json
import os
import re
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


# -- app.static, types, caching ------------------------------------------------------------------


def test_app_static_is_the_short_form(site: Path) -> None:
    app = App()
    app.static("/static", site)
    client = TestClient(app)
    assert client.get("/static/css/app.css").text == "body{}"
    assert app.url_path_for("static", path="/css/app.css") == "/static/css/app.css"
    assert app.mounts[0].name == "static"
    with_html = App()
    with_html.static("/site", site, name="site", html=True)
    assert TestClient(with_html).get("/site/docs").text == "<h1>docs</h1>"


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("a.css", "text/css; charset=utf-8"),
        ("a.js", "text/javascript; charset=utf-8"),
        ("a.mjs", "text/javascript; charset=utf-8"),
        ("a.html", "text/html; charset=utf-8"),
        ("a.txt", "text/plain; charset=utf-8"),
        ("a.json", "application/json"),
        ("a.svg", "image/svg+xml"),
        ("a.png", "image/png"),
        ("a.woff2", "font/woff2"),
        ("a.wasm", "application/wasm"),
        ("a.webmanifest", "application/manifest+json"),
        ("A.CSS", "text/css; charset=utf-8"),
        ("noext", "application/octet-stream"),
    ],
)
def test_content_types(tmp_path: Path, name: str, content_type: str) -> None:
    (tmp_path / name).write_bytes(b"x")
    r = TestClient(app_for(tmp_path)).get(f"/static/{name}")
    assert r.headers["content-type"] == content_type


def test_cache_control(site: Path) -> None:
    assert TestClient(app_for(site)).get("/static/css/app.css").headers["cache-control"] == (
        "no-cache"
    )
    r = TestClient(app_for(site, max_age=600)).get("/static/css/app.css")
    assert r.headers["cache-control"] == "public, max-age=600"


# -- ranges --------------------------------------------------------------------------------------


@pytest.fixture
def digits(tmp_path: Path) -> TestClient:
    (tmp_path / "d.txt").write_bytes(b"0123456789")
    (tmp_path / "empty.txt").write_bytes(b"")
    return TestClient(app_for(tmp_path))


@pytest.mark.parametrize(
    ("header", "status", "body", "content_range"),
    [
        ("bytes=0-0", 206, b"0", "bytes 0-0/10"),
        ("bytes=2-5", 206, b"2345", "bytes 2-5/10"),
        ("bytes=7-", 206, b"789", "bytes 7-9/10"),
        ("bytes=-3", 206, b"789", "bytes 7-9/10"),
        ("bytes=-30", 206, b"0123456789", "bytes 0-9/10"),
        ("bytes=8-100", 206, b"89", "bytes 8-9/10"),
        ("bytes=0-" + "9" * 5000, 206, b"0123456789", "bytes 0-9/10"),
        ("BYTES = 1-1", 206, b"1", "bytes 1-1/10"),
        # ignored: the whole file (RFC 9110 lets a server ignore Range)
        ("bytes=0-1,4-5", 200, b"0123456789", None),  # several ranges
        ("bytes=5-2", 200, b"0123456789", None),  # invalid
        ("items=0-1", 200, b"0123456789", None),  # another unit
        ("bytes=a-b", 200, b"0123456789", None),
        ("bytes=-", 200, b"0123456789", None),
        ("bytes=1", 200, b"0123456789", None),
        ("bytes=\u00b2-3", 200, b"0123456789", None),
    ],
)
def test_ranges(
    digits: TestClient, header: str, status: int, body: bytes, content_range: str | None
) -> None:
    r = digits.get("/static/d.txt", headers={b"range": header.encode("latin-1")})
    assert (r.status_code, r.content) == (status, body)
    assert r.headers.get("content-range") == content_range
    assert r.headers["content-length"] == str(len(body))
    assert r.headers["accept-ranges"] == "bytes"


@pytest.mark.parametrize(
    "header", ["bytes=10-", "bytes=10-20", "bytes=-0", "bytes=" + "9" * 5000 + "-"]
)
def test_unsatisfiable_ranges_are_416(digits: TestClient, header: str) -> None:
    r = digits.get("/static/d.txt", headers={"range": header})
    body = problem(r, 416)
    assert r.headers["content-range"] == "bytes */10"
    assert body["detail"].startswith("The range")


def test_range_is_ignored_for_head_empty_files_and_changed_files(digits: TestClient) -> None:
    head = digits.head("/static/d.txt", headers={"range": "bytes=0-1"})
    assert (head.status_code, head.headers["content-length"]) == (200, "10")
    empty = digits.get("/static/empty.txt", headers={"range": "bytes=0-1"})
    assert (empty.status_code, empty.content) == (200, b"")
    full = digits.get("/static/d.txt")
    etag, modified = full.headers["etag"], full.headers["last-modified"]
    for if_range, status in (
        (etag, 206),
        (modified, 206),
        ('"stale"', 200),
        (f"W/{etag}", 200),  # If-Range needs a strong validator
        ("Mon, 01 Jan 2001 00:00:00 GMT", 200),
    ):
        r = digits.get("/static/d.txt", headers={"range": "bytes=0-1", "if-range": if_range})
        assert r.status_code == status, if_range
    # a validator that matches comes first: 304, not 206
    cached = digits.get("/static/d.txt", headers={"range": "bytes=0-1", "if-none-match": etag})
    assert cached.status_code == 304


def test_a_range_on_a_real_socket(tmp_path: Path) -> None:
    import httpx

    from tests.live import running, url_of

    (tmp_path / "big.bin").write_bytes(bytes(range(256)) * 1024)  # 256 KiB: several chunks
    with running(app_for(tmp_path)) as server:
        r = httpx.get(f"{url_of(server)}/static/big.bin", headers={"range": "bytes=1000-200000"})
    assert r.status_code == 206
    assert r.content == (bytes(range(256)) * 1024)[1000:200001]


# -- traversal -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/static/%2e%2e/secret.txt",
        "/static/%2E%2E%2Fsecret.txt",
        "/static/css/%2e%2e/%2e%2e/secret.txt",
        "/static/..%2fsecret.txt",
        "/static/..%5csecret.txt",
        "/static/css%00/app.css",
        "/static/%00",
        "/static/C:%5cWindows%5cwin.ini",
        "/static/css/app.css::$DATA",
        "/static/CON",
        "/static/con.txt",
        "/static/NUL",
        "/static/css/COM1",
        "/static/lpt9.css",
        "/static/aux%20",
    ],
)
def test_encoded_and_windows_paths_are_404(site: Path, path: str) -> None:
    for name in ("CON", "con.txt", "NUL", "lpt9.css", "aux "):
        (site / name).write_text("device")  # even when such a file exists on this system
    problem(TestClient(app_for(site)).get(path), 404)


@pytest.mark.parametrize(
    "path",
    ["/static/../secret.txt", "/static/./../secret.txt", "/static/" + str(Path("/etc/passwd"))],
)
def test_raw_traversal_paths_are_404(site: Path, path: str) -> None:
    raw_problem(raw_get(app_for(site), path), 404)


# -- collectstatic -------------------------------------------------------------------------------


def test_collect_static_fingerprints_and_writes_a_manifest(tmp_path: Path, site: Path) -> None:
    from keel.staticfiles import MANIFEST, collect_static, fingerprinted

    extra = tmp_path / "extra"
    (extra / "css").mkdir(parents=True)
    (extra / "css" / "app.css").write_text("shadowed")  # the first source wins
    (extra / "js").mkdir()
    (extra / "js" / "app.min.js").write_text("x()")
    (extra / ".hidden").write_text("no")
    out = tmp_path / "out"
    paths = collect_static([site, extra], out)
    assert paths["css/app.css"] == fingerprinted("css/app.css", b"body{}")
    assert re.fullmatch(r"css/app\.[0-9a-f]{12}\.css", paths["css/app.css"])
    assert re.fullmatch(r"js/app\.min\.[0-9a-f]{12}\.js", paths["js/app.min.js"])
    assert "leak.txt" not in paths  # a link out of the source
    assert ".hidden" not in paths
    assert (out / paths["css/app.css"]).read_text() == "body{}"
    assert (out / "css" / "app.css").read_text() == "body{}"
    assert json.loads((out / MANIFEST).read_text()) == {"version": 1, "paths": paths}
    assert fingerprinted("LICENSE", b"") == "LICENSE.e3b0c44298fc"

    client = TestClient(app_for(out))
    hashed = client.get(f"/static/{paths['css/app.css']}")
    assert hashed.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert client.get("/static/css/app.css").headers["cache-control"] == "no-cache"
    assert client.get(f"/static/{MANIFEST}").status_code == 200  # public: names only

    with pytest.raises(ValueError, match="overlap"):
        collect_static([site], site / "out")


def test_a_broken_manifest_is_a_startup_error(tmp_path: Path) -> None:
    (tmp_path / "staticfiles.json").write_text('{"paths": [1]}')
    with pytest.raises(RuntimeError, match="not a keel collectstatic manifest"):
        StaticFiles(directory=tmp_path)
