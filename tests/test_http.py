"""keel._http: the HTTP rules keel applies in more than one place, defined once."""

from __future__ import annotations

import pytest

from keel import App
from keel._http import (
    body_allowed,
    etag_matches,
    header_alias,
    is_json_media_type,
    not_modified,
    parse_query,
)
from keel.errors import HTTPError
from keel.openapi import generate_openapi


@pytest.mark.parametrize(
    ("status", "allowed"),
    [(100, False), (103, False), (199, False), (200, True), (201, True), (204, False)]
    + [(205, False), (206, True), (304, False), (404, True), (500, True)],
)
def test_statuses_that_carry_no_content(status: int, allowed: bool) -> None:
    assert body_allowed(status) is allowed


def test_the_runtime_and_the_document_share_the_rule() -> None:
    app = App()

    for status in (200, 204, 205, 304):

        @app.post(f"/s{status}", status=status)
        async def handler() -> dict[str, int]:
            return {"a": 1}

    paths = generate_openapi(app)["paths"]
    for status in (200, 204, 205, 304):
        documented = paths[f"/s{status}"]["post"]["responses"][str(status)]
        assert ("content" in documented) is body_allowed(status), status


@pytest.mark.parametrize(
    ("header", "etag", "match"),
    [
        ('"abc"', '"abc"', True),
        ('W/"abc"', '"abc"', True),
        ('"abc"', 'W/"abc"', True),
        ('"x", "abc"', '"abc"', True),
        ('"x","abc"', '"abc"', True),
        ('  "x" ,\tW/"abc"  ', '"abc"', True),
        ("*", '"abc"', True),
        ('"a,b"', '"a,b"', True),
        ('"a,b"', '"b"', False),
        ('"abcd"', '"abc"', False),
        ('"xabc"', '"abc"', False),
        ("abc", '"abc"', False),
        ('"abc', '"abc"', False),
        ("", '"abc"', False),
        ('"abc"', None, False),
    ],
)
def test_if_none_match_uses_weak_comparison(header: str, etag: str | None, match: bool) -> None:
    assert etag_matches(header, etag) is match


def test_if_none_match_wins_over_if_modified_since() -> None:
    last = "Wed, 21 Oct 2015 07:28:00 GMT"
    later = "Thu, 22 Oct 2015 07:28:00 GMT"
    earlier = "Tue, 20 Oct 2015 07:28:00 GMT"
    assert not_modified({"if-none-match": '"a"'}, '"a"', last)
    assert not not_modified({"if-none-match": '"b"', "if-modified-since": later}, '"a"', last)
    assert not_modified({"if-modified-since": later}, '"a"', last)
    assert not_modified({"if-modified-since": last}, None, last)
    assert not not_modified({"if-modified-since": earlier}, '"a"', last)
    assert not not_modified({"if-modified-since": "garbage"}, '"a"', last)
    assert not not_modified({}, '"a"', last)


def test_json_media_types() -> None:
    assert is_json_media_type("application/json")
    assert is_json_media_type("Application/JSON; charset=utf-8")
    assert is_json_media_type("application/vnd.api+json")
    assert is_json_media_type("application/problem+json")
    assert not is_json_media_type("text/json+html")
    assert not is_json_media_type("application/jsonp")
    assert not is_json_media_type("")
    assert not is_json_media_type(None)


def test_header_alias() -> None:
    assert header_alias("x_request_id") == "x-request-id"
    assert header_alias("accept") == "accept"


def test_query_parsing_is_utf8_with_plus_as_space() -> None:
    assert parse_query(b"") == []
    assert parse_query(b"a=1&b=&&c") == [("a", "1"), ("b", ""), ("c", "")]
    assert parse_query("s=é".encode()) == [("s", "é")]
    assert parse_query(b"s=caf%C3%A9+au%2Blait") == [("s", "café au+lait")]
    assert parse_query(b"k%20y=v") == [("k y", "v")]
    for bad in (b"s=\xff", b"s=%ff", b"s=%C3", b"%ff=1"):
        with pytest.raises(HTTPError) as caught:
            parse_query(bad)
        assert caught.value.status == 400


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", True),  # Chrome
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", True),
        ("text/*", True),
        ("text/html, */*;q=0", True),
        ("application/xhtml+xml", True),
        (None, False),
        ("", False),
        ("*/*", False),  # curl, httpx: problem JSON
        ("application/json", False),
        ("application/problem+json, text/html", False),  # a tie goes to JSON
        ("text/html;q=0.5, application/json", False),
        ("text/html;q=0.5, application/*", False),
        ("text/html;q=nan", False),
        ("text/html;q=2", False),
        ("text/html;q=abc", False),
        ("text/html, application/json;q=0.9, text/*;q=0", True),
        ("text/html" + ", x/y" * 2000, False),  # too long to weigh
    ],
)
def test_prefers_html(accept: str | None, html: bool) -> None:
    from keel._http import prefers_html

    assert prefers_html(accept) is html
