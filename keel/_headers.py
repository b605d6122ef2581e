"""The header lines keel writes: names are tokens, values never split the response head.

A value given by the program (``headers=``, a cookie's path or domain) with CR, LF, NUL or
another control character is a :class:`ValueError` where it is given; data that ends up in
a header (a redirect target, a download's file name, a cookie's value) is encoded instead.
"""

from __future__ import annotations

import re
from urllib.parse import quote

__all__ = [
    "content_disposition",
    "cookie_attribute",
    "header_name",
    "header_value",
    "is_token",
]

_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
# RFC 9110 field values: no control characters but horizontal tab.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# RFC 8187 attr-char, the characters a filename* value keeps as they are.
_ATTR_CHARS = "!#$&+-.^_`|~"


def is_token(text: str) -> bool:
    """Whether ``text`` is an RFC 9110 token (a header name, a cookie name)."""
    return bool(text) and _TOKEN.issuperset(text)


def header_name(name: str) -> bytes:
    """``name`` lower-cased as header bytes (:class:`ValueError` unless it is a token)."""
    if not is_token(name):
        raise ValueError(
            f"invalid header name {name[:40]!r}: use letters, digits and !#$%&'*+-.^_`|~ only"
        )
    return name.lower().encode("ascii")


def header_value(value: str, name: str = "") -> bytes:
    """``value`` as header bytes (:class:`ValueError` on CR, LF, NUL or non-Latin-1 text)."""
    if _CONTROL.search(value):
        raise ValueError(
            f"header {name or 'value'} must not contain CR, LF, NUL or other control "
            f"characters (got {value[:40]!r}); encode data before putting it in a header"
        )
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(
            f"header {name or 'value'} must be Latin-1 text (got {value[:40]!r}); "
            "percent-encode other characters"
        ) from None


def cookie_attribute(what: str, value: str) -> str:
    """A cookie's path, domain or expiry date, checked (no control characters, no ``;``)."""
    if _CONTROL.search(value) or ";" in value:
        raise ValueError(f"cookie {what} must not contain ';' or control characters: {value!r}")
    return value


def content_disposition(kind: str, filename: str) -> str:
    """A ``Content-Disposition`` value offering ``filename`` (data: always encoded safely).

    The plain ``filename=`` keeps the printable ASCII of the name; when anything else was
    dropped, ``filename*=`` carries the whole name percent-encoded (RFC 6266, RFC 8187).
    """
    if not is_token(kind):
        raise ValueError(f"invalid Content-Disposition type {kind!r} (attachment or inline)")
    ascii_name = "".join(c for c in filename if " " <= c <= "~" and c not in '"\\')
    value = f'{kind}; filename="{ascii_name}"'
    if ascii_name != filename:
        value += f"; filename*=utf-8''{quote(filename, safe=_ATTR_CHARS)}"
    return value
