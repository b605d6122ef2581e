"""HTTP rules keel applies in more than one place, each defined once (RFC 9110).

Which statuses carry content, what counts as a JSON media type, how a header parameter's
name is spelled, how ``If-None-Match`` compares entity tags, and how a query string decodes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_to_bytes

from keel.errors import HTTPError

__all__ = [
    "app_setting",
    "body_allowed",
    "etag_matches",
    "header_alias",
    "is_json_media_type",
    "not_modified",
    "parse_query",
    "prefers_html",
]

_NO_CONTENT = frozenset({204, 205, 304})


def app_setting(app: Any, name: str, default: Any) -> Any:
    """``app.settings.<name>``, or ``default`` for an app without keel settings."""
    return getattr(getattr(app, "settings", None), name, default)


def body_allowed(status: int) -> bool:
    """Whether a response with ``status`` may carry content.

    1xx, 204, 205 and 304 never do (RFC 9110 §6.4.1, §15.3.6); neither does any answer to
    HEAD, which the senders check separately.
    """
    return status >= 200 and status not in _NO_CONTENT


def is_json_media_type(media_type: str | None) -> bool:
    """``application/json`` or any ``application/*+json`` (parameters ignored)."""
    if not media_type:
        return False
    mt = media_type.split(";", 1)[0].strip().lower()
    return mt == "application/json" or (mt.startswith("application/") and mt.endswith("+json"))


def header_alias(name: str) -> str:
    """The header a parameter named ``name`` reads: ``x_token`` -> ``x-token``."""
    return name.replace("_", "-")


def _entity_tags(header: str) -> list[str] | None:
    """The opaque tags of an ``If-None-Match`` list (``W/`` dropped), or ``None`` for ``*``.

    Entity tags may contain commas, so the list is scanned quote by quote rather than split.
    A malformed member ends the scan: what was read before it still counts.
    """
    tags: list[str] = []
    i, n = 0, len(header)
    while i < n:
        c = header[i]
        if c in " \t,":
            i += 1
            continue
        if c == "*":
            return None
        if header.startswith("W/", i):
            i += 2
        if i >= n or header[i] != '"':
            break
        end = header.find('"', i + 1)
        if end < 0:
            break
        tags.append(header[i + 1 : end])
        i = end + 1
    return tags


def etag_matches(if_none_match: str, etag: str | None) -> bool:
    """Whether ``If-None-Match`` matches ``etag`` by weak comparison (RFC 9110 §13.1.2).

    ``*`` matches any current representation; ``W/"x"`` and ``"x"`` match each other.
    """
    tags = _entity_tags(if_none_match)
    if tags is None:
        return True
    if etag is None:
        return False
    opaque = etag.removeprefix("W/")
    if len(opaque) < 2 or opaque[0] != '"' or opaque[-1] != '"':
        return False
    return opaque[1:-1] in tags


def not_modified(
    request_headers: Mapping[str, str], etag: str | None, last_modified: str | None
) -> bool:
    """Whether a GET or HEAD may be answered 304 (RFC 9110 §13.2.2).

    ``If-None-Match`` decides when present; otherwise ``If-Modified-Since`` is compared with
    ``last_modified`` (an unparsable date never matches).
    """
    if_none_match = request_headers.get("if-none-match")
    if if_none_match is not None:
        return etag_matches(if_none_match, etag)
    since = request_headers.get("if-modified-since")
    if not since or not last_modified:
        return False
    from email.utils import parsedate_to_datetime

    try:
        return parsedate_to_datetime(last_modified) <= parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False


_HTML_TYPES = ("text/html", "application/xhtml+xml")
_JSON_TYPES = ("application/json", "application/problem+json")


def _quality(ranges: list[tuple[str, float]], media_type: str) -> float:
    """The ``q`` of the most specific range matching ``media_type`` (0 when none does)."""
    family = media_type.split("/", 1)[0] + "/*"
    best, rank = 0.0, -1
    for accepted, q in ranges:
        specificity = 2 if accepted == media_type else 1 if accepted == family else 0
        if specificity > rank and (specificity or accepted == "*/*"):
            best, rank = q, specificity
    return best


def prefers_html(accept: str | None) -> bool:
    """Whether an ``Accept`` header ranks an HTML page above JSON (a browser navigating).

    ``text/html`` (or XHTML) must be accepted with a strictly higher quality than
    ``application/json`` (or problem+json), each judged by its most specific matching
    range: a browser's ``text/html,...,*/*;q=0.8`` prefers HTML; ``*/*``, no header,
    ``application/json`` and anything unparsable do not.
    """
    if not accept or len(accept) > 4096:
        return False
    ranges: list[tuple[str, float]] = []
    for item in accept.split(","):
        media_range, *params = item.split(";")
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
                if not 0.0 <= q <= 1.0:  # also NaN
                    q = 0.0
        ranges.append((media_range.strip().lower(), q))
    html = max(_quality(ranges, t) for t in _HTML_TYPES)
    json = max(_quality(ranges, t) for t in _JSON_TYPES)
    return html > json


def _not_utf8(what: str) -> HTTPError:
    return HTTPError(400, f"The {what} is not valid UTF-8")


def _unquote(text: str, what: str) -> str:
    if "%" not in text:
        return text.replace("+", " ")
    raw = unquote_to_bytes(text.replace("+", " "))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _not_utf8(what) from None


def _count_separators(query: bytes | str) -> int:
    return query.count(b"&") if isinstance(query, bytes) else query.count("&")


def parse_query(
    query: bytes | str, what: str = "query string", max_params: int | None = None
) -> list[tuple[str, str]]:
    """Decode a query string into ``(name, value)`` pairs, in order, blanks kept.

    The bytes and every percent-escape are UTF-8 (``+`` is a space); anything else is a 400
    that names ``what``. More than ``max_params`` parameters is a 400 too, found before any
    decoding. The one parser behind typed query parameters, ``request.query_params`` and
    url-encoded form bodies.
    """
    if max_params is not None and _count_separators(query) >= max_params:
        raise HTTPError(
            400,
            f"Too many query parameters (the limit is {max_params})",
            extra={"limit": max_params},
        )
    if isinstance(query, bytes):
        try:
            query = query.decode("utf-8")
        except UnicodeDecodeError:
            raise _not_utf8(what) from None
    if not query:
        return []
    pairs: list[tuple[str, str]] = []
    plain = "%" not in query and "+" not in query
    for part in query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        if plain:
            pairs.append((name, value))
        else:
            pairs.append((_unquote(name, what), _unquote(value, what)))
    return pairs
