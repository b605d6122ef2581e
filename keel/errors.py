"""Errors and RFC 9457 problem details: the one error format keel speaks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

import pydantic_core

__all__ = [
    "HTTPError",
    "HTTPException",
    "KeelError",
    "PROBLEM_JSON",
    "RequestValidationError",
    "ErrorList",
    "ResponseValidationError",
    "convert_errors",
    "input_preview",
    "problem_body",
    "safe_text",
    "server_error",
    "status_phrase",
    "traceback_html",
    "validation_summary",
]

PROBLEM_JSON = "application/problem+json"
_PREVIEW = 40
_SECRET_HINTS = ("pass", "secret", "token", "key", "auth", "credential", "pwd")


_RFC9110_PHRASES = {413: "Content Too Large", 422: "Unprocessable Content"}


def status_phrase(status: int) -> str:
    """The standard reason phrase for ``status`` (``"Error"`` when unknown)."""
    if status in _RFC9110_PHRASES:
        return _RFC9110_PHRASES[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class KeelError(RuntimeError):
    """keel was used in a way it does not support (a programming error, not a request's).

    ``keel.exceptions.FastAPIError`` is the same class, under FastAPI's name.
    """


class HTTPError(Exception):
    """Raise to answer with an HTTP error rendered as problem details.

    Args:
        status: The HTTP status code (``status_code=`` is accepted too).
        detail: A human-readable explanation of this occurrence.
        headers: Extra response headers (e.g. ``WWW-Authenticate``); a name that is not a
            token or a value with CR, LF, NUL or other control characters is a
            :class:`ValueError` here.
        title: Short summary; defaults to the status phrase.
        type: A URI identifying the problem type; defaults to ``about:blank``.
        extra: Extension members merged into the problem object.
    """

    def __init__(
        self,
        status: int | None = None,
        detail: Any = None,
        headers: Mapping[str, str] | None = None,
        *,
        status_code: int | None = None,
        title: str | None = None,
        type: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        code = status if status is not None else status_code
        if code is None:
            raise TypeError("HTTPError needs a status, e.g. HTTPError(404, 'Item not found')")
        if not 400 <= code <= 599:
            raise ValueError(f"HTTPError status must be 4xx or 5xx, got {code}")
        self.status = code
        self.detail = detail
        if headers:
            from keel._headers import header_name, header_value

            for name, value in headers.items():  # refused here, not while answering
                header_name(name)
                header_value(value, name)
        self.headers = dict(headers) if headers else None
        self.title = title or status_phrase(code)
        self.type = type or "about:blank"
        self.extra = dict(extra) if extra else None
        super().__init__(code, detail)

    @property
    def status_code(self) -> int:
        """Alias of :attr:`status` (FastAPI/Starlette spelling)."""
        return self.status

    def to_problem(self) -> dict[str, Any]:
        """The problem-details object for this error."""
        problem: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status}
        if self.detail is not None:
            problem["detail"] = self.detail
        if self.extra:
            for k, v in self.extra.items():
                problem.setdefault(k, v)
        return problem

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, detail={self.detail!r})"


HTTPException = HTTPError
"""FastAPI/Starlette spelling of :class:`HTTPError`."""


class ErrorList(list[dict[str, Any]]):
    """The error items of a :class:`RequestValidationError`: a list, also callable.

    ``exc.errors`` is the list; ``exc.errors()`` (FastAPI's spelling) returns it too.
    """

    def __call__(self) -> list[dict[str, Any]]:
        """The items as pydantic and FastAPI give them: each ``loc`` a tuple."""
        return [{**e, "loc": tuple(e.get("loc", ()))} for e in self]


class RequestValidationError(HTTPError):
    """Request parameters or body failed validation (422 by default).

    ``errors`` is a list of ``{"loc": [...], "msg": str, "type": str}`` items (also callable,
    ``exc.errors()``, as in FastAPI); an ``input`` member, when present, is a short preview of
    the offending scalar value, and ``ctx`` the rule's parameters (e.g. ``{"ge": 1}``).
    ``body`` is the parsed JSON body (or a form model's fields) when it failed validation, for
    exception handlers
    (keel's own responses never echo it).
    """

    def __init__(
        self,
        errors: Sequence[Mapping[str, Any]],
        *,
        status: int = 422,
        detail: str | None = None,
        body: Any = None,
    ) -> None:
        self.errors = ErrorList(dict(e) for e in errors)
        self.body = body
        if detail is None:
            detail = validation_summary(self.errors)
        public = [{k: v for k, v in e.items() if k != "ctx"} for e in self.errors]
        super().__init__(status, detail, extra={"errors": public})

    def __str__(self) -> str:
        lines = [f"{len(self.errors)} validation error{'s' if len(self.errors) != 1 else ''}:"]
        for e in self.errors:
            lines.append(f"  {e.get('type')}: {tuple(e.get('loc', ()))}: {e.get('msg')}")
        return "\n".join(lines)


_NAMED = 3


def validation_summary(errors: Sequence[Mapping[str, Any]]) -> str:
    """``"2 fields are invalid: query.a: ...; query.b: ..."``, naming at most three."""
    n = len(errors)
    head = "1 field is invalid" if n == 1 else f"{n} fields are invalid"
    if not n:
        return head
    parts = []
    for error in errors[:_NAMED]:
        where = ".".join(str(p) for p in error.get("loc", ()))
        msg = str(error.get("msg", ""))
        parts.append(f"{where}: {msg}" if where and msg else where or msg)
    listed = "; ".join(p for p in parts if p)
    if n > _NAMED:
        listed += f"; and {n - _NAMED} more"
    return f"{head}: {listed}" if listed else head


class ResponseValidationError(Exception):
    """A handler returned a value that does not match its declared response schema.

    A bug in the server, not in the request: the client gets a 500 and the error is
    re-raised to the server (and to tests).
    """

    def __init__(self, route: str, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        super().__init__(f"Response of {route} does not match its declared schema: {errors}")


def safe_text(value: str, limit: int | None = None) -> str:
    """``value`` with lone surrogates escaped (so it always encodes) and optionally cut."""
    if limit is not None and len(value) > limit:
        value = value[:limit] + "…"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def input_preview(loc: Sequence[Any], value: Any) -> Any:
    """A short, safe preview of a rejected input value, or ``None`` to omit it.

    Containers are never echoed (they would carry sibling fields such as passwords), nor
    values of fields whose name suggests a secret.
    """
    for part in loc:
        if isinstance(part, str) and any(h in part.lower() for h in _SECRET_HINTS):
            return None
    if value is None or isinstance(value, bool | int):
        if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
            return safe_text(str(value)[:_PREVIEW] + "…")
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, str):
        return safe_text(value, _PREVIEW)
    if isinstance(value, bytes):
        return safe_text(value[:_PREVIEW].decode("utf-8", "replace"), _PREVIEW)
    return None


def convert_errors(
    errors: Sequence[Any],
    prefix: Sequence[str | int] = (),
    rename: Mapping[str | int, Sequence[str | int]] | None = None,
) -> list[dict[str, Any]]:
    """Turn pydantic error dicts into keel's public error items.

    ``rename`` maps the first location element (an internal field key) to a public location.
    """
    out: list[dict[str, Any]] = []
    for err in errors:
        loc = list(err.get("loc", ()))
        if rename is not None and loc and loc[0] in rename:
            loc = [*rename[loc[0]], *loc[1:]]
        else:
            loc = [*prefix, *loc]
        item: dict[str, Any] = {
            "loc": loc,
            "msg": safe_text(str(err.get("msg", "")), 300),
            "type": str(err.get("type", "value_error")),
        }
        if "input" in err and err.get("type") not in ("missing", "json_invalid"):
            preview = input_preview(loc, err["input"])
            if preview is not None:
                item["input"] = preview
        ctx = err.get("ctx")
        if ctx:
            item["ctx"] = {str(k): _ctx_value(v) for k, v in ctx.items()}
        out.append(item)
    return out


def _ctx_value(value: Any) -> Any:
    """A rule parameter as JSON can carry it (an exception becomes ``{}``, as in FastAPI)."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, BaseException):
        return {}
    return safe_text(str(value), 200)


def problem_body(problem: Mapping[str, Any]) -> bytes:
    """Serialize a problem object to JSON bytes, never failing on odd values."""
    try:
        return pydantic_core.to_json(problem, fallback=_fallback, inf_nan_mode="null")
    except Exception:  # pragma: no cover - last resort, the fallback should cover it
        return pydantic_core.to_json(
            {k: problem[k] for k in ("type", "title", "status") if k in problem}
        )


def _fallback(value: Any) -> Any:
    return safe_text(repr(value), 200)


def server_error(exc: BaseException, *, debug: bool = False) -> HTTPError:
    """The 500 an unhandled ``exc`` is answered with; only in debug does it tell what failed.

    In debug the detail names the exception and a ``traceback`` member lists its lines.
    """
    if not debug:
        return HTTPError(500, "The server failed to handle this request.")
    import traceback

    lines = [safe_text(line) for line in traceback.format_exception(exc)]
    detail = safe_text(f"{type(exc).__name__}: {exc}", 2000)
    return HTTPError(500, detail, extra={"traceback": lines})


def traceback_html(exc: BaseException, method: str, path: str, nonce: str | None = None) -> str:
    """A readable HTML traceback page (debug mode only); ``nonce`` is the CSP nonce its
    inline style needs under keel's default Content-Security-Policy."""
    import html
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    rows = []
    for fr in frames:
        code = html.escape(fr.line or "")
        rows.append(
            f"<li><div class='loc'>{html.escape(fr.filename)}:{fr.lineno} in "
            f"<b>{html.escape(fr.name)}</b></div><pre>{code}</pre></li>"
        )
    title = html.escape(safe_text(f"{type(exc).__name__}: {exc}", 2000))
    full = html.escape(safe_text("".join(traceback.format_exception(exc))))
    attr = f' nonce="{html.escape(nonce)}"' if nonce else ""
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>500 · keel debug</title>"
        f"<style{attr}>"
        "body{font:14px system-ui,sans-serif;margin:2em;color:#222}"
        "h1{color:#b00020;font-size:1.4em}pre{background:#f6f6f6;padding:.5em;overflow:auto}"
        ".loc{color:#555}li{margin-bottom:.8em}details{margin-top:2em}</style></head><body>"
        f"<h1>{title}</h1><p>{html.escape(method)} {html.escape(safe_text(path))}</p>"
        f"<p>Shown because the app runs with <code>debug=True</code>. Never in production.</p>"
        f"<ol>{''.join(rows)}</ol><details><summary>Plain traceback</summary>"
        f"<pre>{full}</pre></details></body></html>"
    )
