"""No header keel writes carries CR, LF or NUL: refused when given, encoded when it is data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from keel import App, HTTPError
from keel.responses import FileResponse, JSONResponse, RedirectResponse, Response
from keel.testing import TestClient
from tests.problems import problem

BAD_VALUES = ["a\r\nSet-Cookie: x=1", "a\nb", "a\rb", "a\x00b", "a\x0bb", "a\x7fb"]


@pytest.mark.parametrize("value", BAD_VALUES)
def test_header_values_with_control_characters_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="X-Note must not contain CR, LF, NUL"):
        Response("x", headers={"X-Note": value})
    with pytest.raises(ValueError, match="CR, LF, NUL"):
        JSONResponse({}).headers["X-Note"] = value
    with pytest.raises(ValueError, match="CR, LF, NUL"):
        JSONResponse({}).headers.append("X-Note", value)


@pytest.mark.parametrize("name", ["X-A\r\nB", "X A", "X:A", "", "X-\x00"])
def test_header_names_must_be_tokens(name: str) -> None:
    with pytest.raises(ValueError, match="invalid header name"):
        Response("x", headers={name: "1"})


def test_non_latin1_header_values_are_refused_clearly() -> None:
    with pytest.raises(ValueError, match="Latin-1"):
        Response("x", headers={"X-Note": "€"})


def test_tabs_and_latin1_are_fine() -> None:
    r = Response("x", headers={"X-Note": "a\tb é"})
    assert r.headers["x-note"] == "a\tb é"


@pytest.mark.parametrize("value", BAD_VALUES)
def test_http_error_headers_are_refused_when_raised(value: str) -> None:
    with pytest.raises(ValueError, match="CR, LF, NUL"):
        HTTPError(400, "bad", headers={"X-Why": value})
    with pytest.raises(ValueError, match="invalid header name"):
        HTTPError(400, "bad", headers={"X-Why\r\nX-Evil": "1"})


def test_http_error_headers_still_reach_the_client() -> None:
    app = App()

    @app.get("/")
    async def index() -> None:
        raise HTTPError(401, "who?", headers={"WWW-Authenticate": 'Bearer realm="x"'})

    r = TestClient(app).get("/")
    assert problem(r, 401)["detail"] == "who?"
    assert r.headers["www-authenticate"] == 'Bearer realm="x"'


@pytest.mark.parametrize(
    ("target", "location"),
    [
        ("/next\r\nSet-Cookie: evil=1", "/next%0D%0ASet-Cookie:%20evil=1"),
        ("/a\x00b", "/a%00b"),
        ("/caf\u00e9?q=\u20ac", "/caf%C3%A9?q=%E2%82%AC"),
        ("/ok%20already", "/ok%20already"),
    ],
)
def test_redirect_targets_are_percent_encoded(target: str, location: str) -> None:
    app = App()

    @app.get("/go")
    async def go() -> RedirectResponse:
        return RedirectResponse(target, 303)

    r = TestClient(app).get("/go", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == location
    assert "set-cookie" not in r.headers


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("report.pdf", 'attachment; filename="report.pdf"'),
        (
            'a\r\nSet-Cookie: x=1".pdf',
            "attachment; filename=\"aSet-Cookie: x=1.pdf\"; filename*=utf-8''"
            "a%0D%0ASet-Cookie%3A%20x%3D1%22.pdf",
        ),
        (
            "r\u00e9sum\u00e9.pdf",
            "attachment; filename=\"rsum.pdf\"; filename*=utf-8''r%C3%A9sum%C3%A9.pdf",
        ),
        ("a\x00b\\c.txt", "attachment; filename=\"abc.txt\"; filename*=utf-8''a%00b%5Cc.txt"),
        ("../../etc/passwd", 'attachment; filename="../../etc/passwd"'),
    ],
)
def test_download_names_are_encoded(tmp_path: Path, filename: str, expected: str) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"data")
    app = App()

    @app.get("/download")
    async def download() -> FileResponse:
        return FileResponse(path, filename=filename, media_type="application/octet-stream")

    r = TestClient(app).get("/download")
    assert r.status_code == 200
    assert r.headers["content-disposition"] == expected
    assert "set-cookie" not in r.headers
    assert r.content == b"data"


def test_disposition_type_must_be_a_token(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Content-Disposition type"):
        FileResponse(tmp_path, filename="x", content_disposition_type="inline\r\nX-A: b")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"key": "sid\r\nX-A"}, "invalid cookie name"),
        ({"key": "a b"}, "invalid cookie name"),
        ({"key": ""}, "invalid cookie name"),
        ({"path": "/\r\nSet-Cookie: admin=1"}, "cookie path"),
        ({"path": "/; Domain=evil.com"}, "cookie path"),
        ({"domain": "example.com\x00"}, "cookie domain"),
        ({"expires": "Thu, 01 Jan 2099 00:00:00 GMT\r\nX: y"}, "cookie expires"),
        ({"samesite": "lax\r\nX: y"}, "samesite"),
        ({"value": "\u20ac"}, "Latin-1"),
    ],
)
def test_cookie_options_that_could_split_the_header_are_refused(
    options: dict[str, Any], message: str
) -> None:
    args: dict[str, Any] = {"key": "sid", "value": "v", **options}
    with pytest.raises(ValueError, match=message):
        Response().set_cookie(**args)


def test_delete_cookie_checks_too() -> None:
    with pytest.raises(ValueError, match="cookie path"):
        Response().delete_cookie("sid", path="/\nX: y")
    with pytest.raises(ValueError, match="invalid cookie name"):
        Response().delete_cookie("sid\r\n")


def test_cookie_values_are_data_and_are_quoted() -> None:
    app = App()

    @app.get("/")
    async def index() -> Response:
        response = Response("ok")
        response.set_cookie("note", "a\r\nSet-Cookie: admin=1; b")
        return response

    r = TestClient(app).get("/")
    lines = r.headers.get_list("set-cookie")
    assert len(lines) == 1
    assert "\r" not in lines[0] and "\n" not in lines[0]
    assert lines[0].startswith('note="a\\015\\012Set-Cookie: admin=1\\073 b"')
