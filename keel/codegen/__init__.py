"""``keel client``: a typed Python client (httpx, sync and async) written from an app.

The generator reads the app's own OpenAPI document (its routes and types) and writes one
module with:

* a ``TypedDict`` per schema component (``Literal`` for string enums);
* ``Client`` (over ``httpx.Client``) and ``AsyncClient`` (over ``httpx.AsyncClient``), one
  method per operation, named after its ``operationId``, with typed path, query and header
  parameters, a typed ``body`` and a typed return value;
* ``ProblemError`` and one subclass per error status the app documents (``NotFoundError``,
  ``UnprocessableContentError``...), raised with the problem-details body of any error
  answer.

The module needs only ``httpx`` and passes ``mypy --strict``.
"""

from __future__ import annotations

import http
import keyword
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from keel.app import App

__all__ = ["generate_client", "generate_client_from_document"]

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_SCALARS = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "null": "None"}


def generate_client(app: App, *, name: str | None = None) -> str:
    """The source of a typed client module for ``app`` (see the module docstring)."""
    return generate_client_from_document(app.openapi(), name=name or app.title)


def _identifier(text: str, *, lower: bool = False) -> str:
    ident = re.sub(r"\W+", "_", text).strip("_") or "x"
    if lower:
        ident = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", ident).lower()
    if ident[0].isdigit():
        ident = "_" + ident
    if keyword.iskeyword(ident) or ident in ("self", "body", "http"):
        ident += "_"
    return ident


class _Writer:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})
        self.names = {key: _identifier(key) for key in self.schemas}

    # -- types -------------------------------------------------------------------------------

    def type_of(self, schema: Any, *, quoted: bool = False) -> str:
        """The Python type of a JSON schema (component names quoted inside strings)."""
        if not isinstance(schema, dict) or not schema:
            return "Any"
        ref = schema.get("$ref")
        if isinstance(ref, str):
            name = self.names.get(ref.rsplit("/", 1)[-1])
            if name is None:
                return "Any"
            return f'"{name}"' if quoted else name
        for key in ("anyOf", "oneOf"):
            options = schema.get(key)
            if isinstance(options, list):
                return self._union([self.type_of(o, quoted=quoted) for o in options])
        if isinstance(schema.get("allOf"), list) and len(schema["allOf"]) == 1:
            return self.type_of(schema["allOf"][0], quoted=quoted)
        if "const" in schema:
            return f"Literal[{schema['const']!r}]"
        enum = schema.get("enum")
        if isinstance(enum, list) and enum and all(isinstance(v, str | int) for v in enum):
            return f"Literal[{', '.join(repr(v) for v in enum)}]"
        kind = schema.get("type")
        if isinstance(kind, list):
            return self._union([self.type_of({**schema, "type": k}, quoted=quoted) for k in kind])
        if kind == "array":
            return f"list[{self.type_of(schema.get('items'), quoted=quoted)}]"
        if kind == "object":
            extra = schema.get("additionalProperties")
            if isinstance(extra, dict) and extra:
                return f"dict[str, {self.type_of(extra, quoted=quoted)}]"
            return "dict[str, Any]"
        if isinstance(kind, str) and kind in _SCALARS:
            return _SCALARS[kind]
        return "Any"

    @staticmethod
    def _union(types: list[str]) -> str:
        unique: list[str] = []
        for t in types:
            if t not in unique:
                unique.append(t)
        if "Any" in unique:
            return "Any"
        return " | ".join(unique) if unique else "Any"

    def component(self, key: str, schema: dict[str, Any]) -> str:
        name = self.names[key]
        doc = str(schema.get("description") or schema.get("title") or key).strip()
        doc = doc.splitlines()[0].replace('"""', "'''").replace("\\", "\\\\")
        props = schema.get("properties")
        if schema.get("type") != "object" or not isinstance(props, dict):
            alias = self.type_of(schema)
            return f'{name}: TypeAlias = {alias!r}\n"""{doc}"""\n'
        required = set(schema.get("required", []))
        fields = []
        for field, sub in props.items():
            kind = self.type_of(sub, quoted=True)
            if field not in required:
                kind = f"NotRequired[{kind}]"
            fields.append((field, kind))
        plain = all(f.isidentifier() and not keyword.iskeyword(f) for f, _ in fields)
        if plain:
            body = "".join(f"    {f}: {k}\n" for f, k in fields) or "    pass\n"
            return f'class {name}(TypedDict):\n    """{doc}"""\n\n{body}'
        entries = ", ".join(f"{f!r}: {k}" for f, k in fields)
        return f'{name} = TypedDict("{name}", {{{entries}}})\n"""{doc}"""\n'

    # -- operations --------------------------------------------------------------------------

    def operations(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        used: set[str] = set()
        for path, item in self.document.get("paths", {}).items():
            shared = item.get("parameters", [])
            for method in _METHODS:
                op = item.get(method)
                if not isinstance(op, dict):
                    continue
                base = _identifier(op.get("operationId") or f"{method}_{path}", lower=True).lower()
                name, n = base, 2
                while name in used:
                    name, n = f"{base}_{n}", n + 1
                used.add(name)
                found.append(
                    self._operation(name, method, path, op, [*shared, *op.get("parameters", [])])
                )
        return found

    def _operation(
        self, name: str, method: str, path: str, op: dict[str, Any], parameters: list[Any]
    ) -> dict[str, Any]:
        params: list[dict[str, Any]] = []
        taken: set[str] = set()
        for p in parameters:
            if "$ref" in p or p.get("in") not in ("path", "query", "header", "cookie"):
                continue
            py = _identifier(p["name"], lower=True).lower()
            while py in taken:
                py += "_"
            taken.add(py)
            params.append(
                {
                    "name": p["name"],
                    "py": py,
                    "in": p["in"],
                    "required": bool(p.get("required")) or p["in"] == "path",
                    "type": self.type_of(p.get("schema")),
                }
            )
        body: dict[str, Any] | None = None
        request = op.get("requestBody")
        if isinstance(request, dict):
            content = request.get("content", {})
            if "application/json" in content:
                kind = self.type_of(content["application/json"].get("schema"))
                body = {"kind": "json", "type": kind, "required": bool(request.get("required"))}
            elif content:
                body = {"kind": "form", "type": "Mapping[str, Any]", "required": True}
        returns, mode = "None", "none"
        for status, response in sorted(op.get("responses", {}).items()):
            if not (status.startswith("2") and len(status) == 3):
                continue
            content = response.get("content") or {}
            if status == "204" or not content:
                returns, mode = "None", "none"
            elif "application/json" in content:
                returns = self.type_of(content["application/json"].get("schema"))
                mode = "json"
            else:
                returns, mode = "bytes", "bytes"
            break
        doc = str(op.get("summary") or op.get("description") or f"{method.upper()} {path}")
        return {
            "name": name,
            "method": method.upper(),
            "path": path,
            "params": params,
            "body": body,
            "returns": returns,
            "mode": mode,
            "doc": doc.splitlines()[0].replace('"""', "'''").replace("\\", "\\\\"),
        }

    def method(self, op: dict[str, Any], *, asynchronous: bool) -> str:
        args: list[str] = []
        optional: list[str] = []
        for p in op["params"]:
            if p["required"]:
                args.append(f"{p['py']}: {p['type']}")
            else:
                kind = p["type"] if "None" in p["type"].split(" | ") else f"{p['type']} | None"
                if p["type"] == "Any":
                    kind = "Any"
                optional.append(f"{p['py']}: {kind} = None")
        body = op["body"]
        if body is not None:
            if body["required"]:
                args.append(f"body: {body['type']}")
            else:
                optional.append(f"body: {body['type']} | None = None")
        signature = ", ".join(["self", *args, *(["*", *optional] if optional else [])])
        path = op["path"]
        for p in op["params"]:
            if p["in"] == "path":
                path = path.replace("{" + p["name"] + "}", "{_segment(" + p["py"] + ")}")
        prefix = "async " if asynchronous else ""
        lines = [
            f"    {prefix}def {op['name']}({signature}) -> {op['returns']}:",
            f'        """{op["doc"]}"""',
        ]
        for where in ("query", "header", "cookie"):
            chosen = [p for p in op["params"] if p["in"] == where]
            if not chosen:
                continue
            entries = ", ".join(f"{p['name']!r}: {p['py']}" for p in chosen)
            lines.append(f"        {where}: dict[str, Any] = _present({{{entries}}})")
        call = [f"{op['method']!r}", f'f"{path}"']
        for where, keyword_ in (("query", "params"), ("header", "headers"), ("cookie", "cookies")):
            if any(p["in"] == where for p in op["params"]):
                call.append(f"{keyword_}={where}")
        if body is not None:
            call.append("json=body" if body["kind"] == "json" else "data=body")
        wait = "await " if asynchronous else ""
        lines.append(f"        response = {wait}self.http.request({', '.join(call)})")
        lines.append("        _raise_for_problem(response)")
        if op["mode"] == "json":
            lines.append(f"        return cast({_quoted(op['returns'])}, response.json())")
        elif op["mode"] == "bytes":
            lines.append("        return response.content")
        return "\n".join(lines) + "\n"

    # -- errors ------------------------------------------------------------------------------

    def error_statuses(self) -> list[int]:
        statuses: set[int] = set()
        for item in self.document.get("paths", {}).values():
            for method in _METHODS:
                op = item.get(method)
                if isinstance(op, dict):
                    for status in op.get("responses", {}):
                        if status.isdigit() and 400 <= int(status) <= 599:
                            statuses.add(int(status))
        return sorted(statuses | {400, 404, 500})


def _quoted(kind: str) -> str:
    return repr(kind) if kind != "Any" else "Any"


def _error_name(status: int) -> str:
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        return f"Status{status}Error"
    words = re.sub(r"[^A-Za-z ]", " ", phrase).split()
    name = "".join(w[:1].upper() + w[1:] for w in words)
    return name if name.endswith("Error") else name + "Error"


_RUNTIME = '''

def _segment(value: object) -> str:
    return quote(str(value), safe="")


def _present(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


class ProblemError(Exception):
    """An error answer from the API: its RFC 9457 problem details.

    Attributes:
        status: The HTTP status.
        title: The problem's short summary.
        detail: What went wrong this time (usually a string).
        type: The problem type URI (``about:blank`` by default).
        body: The whole problem document (extension members included).
        response: The httpx response.
    """

    def __init__(self, response: httpx.Response, body: dict[str, Any]) -> None:
        self.response = response
        self.body = body
        self.status: int = response.status_code
        self.title: str = str(body.get("title") or response.reason_phrase)
        self.detail: Any = body.get("detail")
        self.type: str = str(body.get("type") or "about:blank")
        super().__init__(f"{self.status} {self.title}: {self.detail}")

'''

_RAISE = """

def _raise_for_problem(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    body: dict[str, Any] = {}
    if "json" in response.headers.get("content-type", ""):
        try:
            parsed = response.json()
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            body = parsed
    error = ERRORS.get(response.status_code)
    if error is None:
        error = ClientError if response.status_code < 500 else ServerError
    raise error(response, body)
"""


def generate_client_from_document(document: dict[str, Any], *, name: str = "API") -> str:
    """The source of a typed client module for an OpenAPI 3.1 ``document``."""
    writer = _Writer(document)
    title = str(document.get("info", {}).get("title") or name)
    out: list[str] = [
        f'"""A typed client for {title} (written by ``keel client``; do not edit)."""\n',
        "from __future__ import annotations\n",
        "from collections.abc import Mapping",
        "from types import TracebackType",
        "from typing import Any, Literal, NotRequired, TypeAlias, TypedDict, cast",
        "from urllib.parse import quote\n",
        "import httpx\n",
    ]
    for key, schema in writer.schemas.items():
        out.append("\n" + writer.component(key, schema))
    out.append(_RUNTIME)
    out.append(
        'class ClientError(ProblemError):\n    """A 4xx answer without a class of its own."""\n\n'
    )
    out.append(
        'class ServerError(ProblemError):\n    """A 5xx answer without a class of its own."""\n\n'
    )
    mapping = []
    validation = writer.names.get("ValidationProblem")
    for status in writer.error_statuses():
        cls = _error_name(status)
        base = "ClientError" if status < 500 else "ServerError"
        out.append(f'\nclass {cls}({base}):\n    """{status}: the API\'s problem details."""\n')
        if status == 422 and validation is not None and "ValidationErrorItem" in writer.names:
            item = writer.names["ValidationErrorItem"]
            out.append(
                f"\n    @property\n    def errors(self) -> list[{item}]:\n"
                '        """Each invalid input (empty when the API sent none)."""\n'
                f'        return cast(list[{item}], self.body.get("errors") or [])\n'
            )
        out.append("\n")
        mapping.append(f"    {status}: {cls},")
    out.append("\nERRORS: dict[int, type[ProblemError]] = {\n" + "\n".join(mapping) + "\n}\n")
    out.append('"""The exception class raised for each error status."""\n')
    out.append(_RAISE)
    operations = writer.operations()
    for asynchronous in (False, True):
        cls = "AsyncClient" if asynchronous else "Client"
        http_cls = "httpx.AsyncClient" if asynchronous else "httpx.Client"
        close = "await self.http.aclose()" if asynchronous else "self.http.close()"
        enter = "async def __aenter__" if asynchronous else "def __enter__"
        exit_ = "async def __aexit__" if asynchronous else "def __exit__"
        out.append(
            f'\n\nclass {cls}:\n    """{title}: one method per operation'
            f"{' (async)' if asynchronous else ''}.\n\n"
            "    Args:\n"
            "        base_url: Where the API is served (ignored when ``http`` is given).\n"
            f"        http: An ``{http_cls}`` to send the requests with (its base URL is used).\n"
            '    """\n\n'
            "    def __init__(\n"
            f'        self, base_url: str = "", *, http: {http_cls} | None = None\n'
            "    ) -> None:\n"
            f"        self.http = http if http is not None else {http_cls}(base_url=base_url)\n\n"
            f"    {'async ' if asynchronous else ''}def close(self) -> None:\n"
            '        """Close the underlying httpx client."""\n'
            f"        {close}\n\n"
            f"    {enter}(self) -> {cls}:\n        return self\n\n"
            f"    {exit_}(\n        self,\n        kind: type[BaseException] | None,\n"
            "        error: BaseException | None,\n        trace: TracebackType | None,\n"
            "    ) -> None:\n"
            f"        {'await self.close()' if asynchronous else 'self.close()'}\n"
        )
        for op in operations:
            out.append(writer.method(op, asynchronous=asynchronous))
    text = "\n".join(out).rstrip() + "\n"
    return re.sub(r"\n{4,}", "\n\n\n", text)
