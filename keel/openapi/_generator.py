"""Build the OpenAPI 3.1 document of an app from its routes and their compiled plans."""

from __future__ import annotations

import functools
import inspect
import operator
import re
import types
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Union, get_args, get_origin

from keel._analysis import (
    DEP,
    CallStep,
    FieldSpec,
    Plan,
    body_is_embedded,
    compile_plan,
    is_model_form,
    is_upload_list,
    split_annotated,
    strip_optional,
)
from keel._http import body_allowed, header_alias, is_json_media_type
from keel._schema import is_pydantic_model
from keel.error_formats import PROBLEM_DETAILS, ErrorFormat
from keel.errors import status_phrase
from keel.openapi._problems import error_response
from keel.openapi._schemas import REF_PREFIX, SchemaRef, SchemaRegistry
from keel.params import Body
from keel.responses import Response
from keel.routing import PATH_PARAM
from keel.security import SecurityBase

if TYPE_CHECKING:
    from keel.app import App
    from keel.routing import Route

__all__ = ["generate_openapi"]

OPENAPI_VERSION = "3.1.0"
_LOCATION_ORDER = {"path": 0, "query": 1, "header": 2, "cookie": 3}
_SCHEMA_ONLY_KEYS = ("description", "deprecated")
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_SLUG = re.compile(r"[^0-9a-zA-Z_]+")


def generate_openapi(app: App) -> dict[str, Any]:
    """Generate (without caching) the OpenAPI 3.1 document of ``app``."""
    return _Generator(app).document()


def humanize(name: str) -> str:
    """``get_item`` -> ``Get Item``."""
    words = [w for w in re.split(r"[_\W]+", name) if w]
    return " ".join(w[:1].upper() + w[1:] for w in words) or name


def _slug(text: str) -> str:
    return _SLUG.sub("_", text).strip("_")


def _status_sort_key(code: str) -> tuple[int, str]:
    if code.isdigit():
        return (int(code), "")
    if code.lower() == "default":
        return (10_000, code)
    return (int(code[0]) * 100 + 99 if code[:1].isdigit() else 9_999, code)


def _is_response_class(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, Response)


def _without_responses(annotation: Any) -> Any:
    """``Item | JSONResponse`` -> ``Item``: a returned Response is sent as it is."""
    if get_origin(annotation) in (Union, types.UnionType):
        kept = [a for a in get_args(annotation) if not _is_response_class(a)]
        if kept and len(kept) < len(get_args(annotation)):
            return functools.reduce(operator.or_, kept) if len(kept) > 1 else kept[0]
    return annotation


def _deep_merge(target: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_merge(target[key], value)
        else:
            target[key] = value


class _Security:
    """The security schemes a route depends on, found by walking its dependency graph."""

    def __init__(self, plan: Plan) -> None:
        self.schemes: dict[int, tuple[SecurityBase, list[str]]] = {}
        steps = plan.steps
        children: dict[int, list[int]] = {s.index: [] for s in steps}
        referenced: set[int] = set()
        for step in steps:
            for arg in step.args:
                if arg.source == DEP:
                    children[step.index].append(arg.ref)
                    referenced.add(arg.ref)
        for step in steps:
            if step.index not in referenced:
                self._walk(step, steps, children, [], set())

    def _walk(
        self,
        step: CallStep,
        steps: Sequence[CallStep],
        children: dict[int, list[int]],
        scopes: list[str],
        seen: set[int],
    ) -> None:
        if step.index in seen:
            return
        seen = seen | {step.index}
        own = list(getattr(step.depends, "scopes", None) or [])
        scopes = [*scopes, *(s for s in own if s not in scopes)]
        scheme = step.original if isinstance(step.original, SecurityBase) else None
        if scheme is None and isinstance(step.call, SecurityBase):
            scheme = step.call
        if scheme is not None:
            _, known = self.schemes.setdefault(id(scheme), (scheme, []))
            known.extend(s for s in scopes if s not in known)
        for child in children[step.index]:
            self._walk(steps[child], steps, children, scopes, seen)


class _Generator:
    def __init__(self, app: App) -> None:
        self.app = app
        self.registry = SchemaRegistry()
        self.components: dict[str, Any] = {}
        self.security_schemes: dict[str, dict[str, Any]] = {}
        self._scheme_names: dict[int, str] = {}
        self.errors: ErrorFormat = getattr(app, "error_format", None) or PROBLEM_DETAILS

    # -- document ----------------------------------------------------------------------------

    def document(self) -> dict[str, Any]:
        app = self.app
        routes = [r for r in app.routes if r.include_in_schema]
        operation_ids = self._operation_ids(routes)
        paths: dict[str, dict[str, Any]] = {}
        for route in routes:
            plan = self._plan(route)
            item = paths.setdefault(route.format, {})
            for method in route.methods:
                op_id = operation_ids[(id(route), method)]
                item[method.lower()] = self._operation(route, method, plan, op_id)
        self.registry.generate()
        paths = self.registry.resolve(paths)
        schemas: dict[str, Any] = dict(self.registry.definitions)
        for name, schema in self.registry.resolve(self.components).items():
            schemas.setdefault(name, schema)
        for name, schema in self.errors.schemas().items():
            schemas.setdefault(name, schema)
        doc: dict[str, Any] = {"openapi": OPENAPI_VERSION, "info": self._info()}
        servers = list(getattr(app, "servers", None) or [])
        if servers:
            doc["servers"] = servers
        doc["paths"] = paths
        components: dict[str, Any] = {"schemas": dict(sorted(schemas.items()))}
        if self.security_schemes:
            components["securitySchemes"] = self.security_schemes
        doc["components"] = components
        tags = getattr(app, "openapi_tags", None)
        if tags:
            doc["tags"] = list(tags)
        websockets = self._websockets()
        if websockets:
            doc["x-websockets"] = websockets
        return doc

    def _info(self) -> dict[str, Any]:
        app = self.app
        info: dict[str, Any] = {"title": app.title, "version": app.version}
        for attr, key in (
            ("summary", "summary"),
            ("description", "description"),
            ("terms_of_service", "termsOfService"),
            ("contact", "contact"),
            ("license_info", "license"),
        ):
            value = getattr(app, attr, None)
            if value and not callable(value):
                info[key] = value
        return info

    def _plan(self, route: Route) -> Plan:
        # Compiled without dependency overrides: the document describes the app as deployed.
        return compile_plan(route.endpoint, route.param_types, {}, route.dependencies)

    def _websockets(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for ws in getattr(self.app, "websocket_routes", ()):
            if not getattr(ws, "include_in_schema", True):
                continue
            path = getattr(ws, "format", None) or PATH_PARAM.sub(r"{\1}", str(ws.path))
            endpoint = getattr(ws, "endpoint", None)
            name = getattr(ws, "name", None) or getattr(endpoint, "__name__", None) or path
            entry: dict[str, Any] = {"operationId": _slug(str(name)) or "websocket"}
            summary = getattr(ws, "summary", None) or humanize(str(name))
            entry["summary"] = summary
            docstring = getattr(endpoint, "__doc__", None)
            doc = getattr(ws, "description", None) or (
                inspect.cleandoc(docstring) if isinstance(docstring, str) else None
            )
            if doc:
                entry["description"] = doc
            tags = list(getattr(ws, "tags", None) or [])
            if tags:
                entry["tags"] = tags
            params = [
                {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                for n, _ in PATH_PARAM.findall(str(ws.path))
            ]
            if params:
                entry["parameters"] = params
            out[path] = entry
        return out

    # -- operation ids -----------------------------------------------------------------------

    def _operation_ids(self, routes: Sequence[Route]) -> dict[tuple[int, str], str]:
        explicit: dict[str, tuple[int, str]] = {}
        wanted: dict[tuple[int, str], str] = {}
        for route in routes:
            for method in route.methods:
                key = (id(route), method)
                if route.operation_id:
                    op_id = route.operation_id
                    if len(route.methods) > 1:
                        op_id = f"{op_id}_{method.lower()}"
                    if op_id in explicit:
                        raise ValueError(
                            f"Two operations have operation_id {op_id!r} ({route.path}); "
                            "operation ids must be unique: change one of them"
                        )
                    explicit[op_id] = key
                else:
                    base = _slug(route.name) or "operation"
                    wanted[key] = base if len(route.methods) == 1 else f"{base}_{method.lower()}"
        result = {key: op_id for op_id, key in explicit.items()}
        counts: dict[str, int] = {}
        for base in wanted.values():
            counts[base] = counts.get(base, 0) + 1
        by_key = {(id(r), m): r for r in routes for m in r.methods}
        used = set(explicit)
        pending: list[tuple[tuple[int, str], str]] = []
        for key, base in wanted.items():
            if counts[base] == 1 and base not in used:
                result[key] = base
                used.add(base)
            else:
                pending.append((key, base))
        for key, base in pending:  # collisions: qualify with the path, then the method
            route = by_key[key]
            candidate = f"{base}_{_slug(route.format)}" if _slug(route.format) else base
            if candidate in used:
                candidate = f"{candidate}_{key[1].lower()}"
            n = 2
            unique = candidate
            while unique in used:
                unique = f"{candidate}_{n}"
                n += 1
            result[key] = unique
            used.add(unique)
        return result

    # -- one operation -----------------------------------------------------------------------

    def _operation(self, route: Route, method: str, plan: Plan, op_id: str) -> dict[str, Any]:
        op: dict[str, Any] = {}
        if route.tags:
            op["tags"] = list(route.tags)
        op["summary"] = route.summary or humanize(route.name)
        if route.description:
            op["description"] = route.description
        op["operationId"] = op_id
        params = self._parameters(plan)
        if params:
            op["parameters"] = params
        body = self._request_body(plan, op_id)
        if body is not None:
            op["requestBody"] = body
        security = _Security(plan)
        op["responses"] = self._responses(route, plan, security)
        requirements = self._security(security)
        if requirements:
            op["security"] = requirements
        if route.deprecated:
            op["deprecated"] = True
        if route.openapi_extra:
            _deep_merge(op, dict(route.openapi_extra))
        return op

    def _parameters(self, plan: Plan) -> list[dict[str, Any]]:
        fields = sorted(
            (f for f in plan.params if f.include_in_schema),
            key=lambda f: _LOCATION_ORDER.get(f.location, 9),
        )
        out = []
        for f in fields:
            if f.location != "path" and _parameter_model(f) is not None:
                out.extend(self._model_parameters(f))
                continue
            kwargs = {k: v for k, v in f.field_kwargs.items() if k not in _SCHEMA_ONLY_KEYS}
            param: dict[str, Any] = {
                "name": f.alias,
                "in": f.location,
                "required": f.location == "path" or f.required,
                "schema": self.registry.add(f.annotation, "validation", kwargs),
            }
            description = f.field_kwargs.get("description")
            if description:
                param["description"] = description
            if f.field_kwargs.get("deprecated"):
                param["deprecated"] = True
            examples = getattr(f.marker, "openapi_examples", None)
            if examples:
                param["examples"] = examples
            out.append(param)
        return out

    def _model_parameters(self, f: FieldSpec) -> list[dict[str, Any]]:
        """One parameter per field of a query/header/cookie parameter model."""
        model = _parameter_model(f)
        assert model is not None
        out = []
        for name, info in model.model_fields.items():
            external = info.alias or name
            if f.location == "header" and info.alias is None:
                external = header_alias(name)
            annotation: Any = info.annotation
            if info.metadata:
                annotation = Annotated[(annotation, *info.metadata)]
            kwargs: dict[str, Any] = {}
            if not info.is_required() and info.default_factory is None:
                kwargs["default"] = info.default
            param: dict[str, Any] = {
                "name": external,
                "in": f.location,
                "required": info.is_required(),
                "schema": self.registry.add(annotation, "validation", kwargs),
            }
            if info.description:
                param["description"] = info.description
            if info.deprecated:
                param["deprecated"] = True
            out.append(param)
        return out

    def _field_schema(self, f: FieldSpec) -> SchemaRef:
        kwargs = {k: v for k, v in f.field_kwargs.items() if k != "deprecated"}
        ref = self.registry.add(f.annotation, "validation", kwargs)
        if f.field_kwargs.get("deprecated"):
            ref.extra = {"deprecated": True}
        return ref

    def _object_component(self, name: str, fields: Iterable[FieldSpec]) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        required: list[str] = []
        for f in fields:
            if not f.include_in_schema:
                continue
            if f.location == "file":
                properties[f.alias] = self._file_schema(f)
            else:
                properties[f.alias] = self._field_schema(f)
            if f.required:
                required.append(f.alias)
        schema: dict[str, Any] = {"title": name, "type": "object", "properties": properties}
        if required:
            schema["required"] = required
        self.components[name] = schema
        return {"$ref": REF_PREFIX + name}

    def _file_schema(self, f: FieldSpec) -> dict[str, Any]:
        one: dict[str, Any] = {"type": "string", "format": "binary"}
        description = f.field_kwargs.get("description")
        if f.is_sequence or is_upload_list(f.annotation):
            schema: dict[str, Any] = {"type": "array", "items": one}
        else:
            schema = one
        if description:
            schema = {**schema, "description": description}
        return schema

    def _request_body(self, plan: Plan, op_id: str) -> dict[str, Any] | None:
        body = plan.body_fields
        form = plan.form_fields
        if body:
            if body_is_embedded(body):
                schema: Any = self._object_component(f"Body_{op_id}", body)
                required = any(f.required for f in body)
                media_type = "application/json"
                description = None
            else:
                only = body[0]
                schema = self._field_schema(only)
                required = only.required
                media_type = only.marker.media_type if isinstance(only.marker, Body) else ""
                media_type = media_type or "application/json"
                description = only.field_kwargs.get("description")
            media: dict[str, Any] = {"schema": schema}
            examples = None if body_is_embedded(body) else body[0].marker
            examples = getattr(examples, "openapi_examples", None)
            if examples:
                media["examples"] = examples
            out: dict[str, Any] = {"content": {media_type: media}}
            if description:
                out["description"] = description
            out["required"] = required
            return out
        if form:
            if is_model_form(form):
                schema = self._field_schema(form[0])
                required = form[0].required
            else:
                schema = self._object_component(f"Body_{op_id}", form)
                required = any(f.required for f in form)
            has_files = any(f.location == "file" for f in form)
            media_types = _FORM_TYPES[1:] if has_files else _FORM_TYPES
            return {
                "content": {mt: {"schema": schema} for mt in media_types},
                "required": required,
            }
        return None

    # -- responses ---------------------------------------------------------------------------

    def _responses(self, route: Route, plan: Plan, security: _Security) -> dict[str, Any]:
        responses: dict[str, Any] = {}
        status = str(route.status)
        success: dict[str, Any] = {"description": route.response_description}
        content = self._success_content(route)
        if content:
            success["content"] = content
        responses[status] = success
        declared: dict[Any, Any] = {}
        for step in plan.steps:  # dependencies may declare the errors they raise
            extra = getattr(step.original, "openapi_responses", None)
            if isinstance(extra, dict):
                declared.update(extra)
        declared.update(route.responses)
        for code, entry in declared.items():
            responses[str(code)] = self._extra_response(code, entry, responses.get(str(code)))
        fields = plan.fields
        has_body = bool(plan.body_fields or plan.form_fields)
        has_query = any(f.location == "query" for f in fields)
        auto: list[int] = []
        if has_body or has_query:
            auto.append(400)
        if any(s.auto_error for s, _ in security.schemes.values()):
            auto.append(401)
        if route.param_types:
            auto.append(404)
        if has_body:
            auto += [413, 415]
        if fields:
            auto.append(422)
        for code in auto:
            if str(code) in responses:
                continue
            responses[str(code)] = error_response(self.errors, code)
            if code == 401:
                responses["401"]["headers"] = {
                    "WWW-Authenticate": {
                        "description": "The authentication challenge.",
                        "schema": {"type": "string"},
                    }
                }
        return dict(sorted(responses.items(), key=lambda kv: _status_sort_key(kv[0])))

    def _success_content(self, route: Route) -> dict[str, Any] | None:
        if not body_allowed(route.status):
            return None
        annotation = _without_responses(route.response_annotation)
        base = strip_optional(split_annotated(annotation)[0])
        rc = route.response_class
        if isinstance(base, type) and issubclass(base, Response):
            media_type = (rc or base).media_type
            if not media_type:
                return None
            schema: Any = {} if is_json_media_type(media_type) else {"type": "string"}
            return {media_type: {"schema": schema}}
        empty = annotation is inspect.Signature.empty
        if rc is not None:
            media_type = rc.media_type
            if not media_type:
                return None
            if not is_json_media_type(media_type):
                return {media_type: {"schema": {"type": "string"}}}
        else:
            media_type = "application/json"
        schema = {} if empty else self.registry.add(annotation, "serialization")
        return {media_type: {"schema": schema}}

    def _extra_response(self, code: int | str, entry: Any, current: Any) -> dict[str, Any]:
        out: dict[str, Any] = dict(current) if isinstance(current, dict) else {}
        if isinstance(entry, str):
            entry = {"description": entry}
        elif not isinstance(entry, dict):
            entry = {"model": entry}
        numeric = int(code) if str(code).isdigit() else None
        description = entry.get("description")
        if description:
            out["description"] = description
        elif "description" not in out:
            out["description"] = status_phrase(numeric) if numeric else "Response"
        content: dict[str, Any] = dict(out.get("content") or {})
        model = entry.get("model")
        if model is not None:
            content["application/json"] = {"schema": self.registry.add(model, "serialization")}
        for media_type, media in (entry.get("content") or {}).items():
            content[media_type] = media
        if not content and numeric is not None and numeric >= 400:
            content = self.errors.content(numeric)
        if content:
            out["content"] = content
        for key, value in entry.items():
            if key not in ("description", "model", "content"):
                out[key] = value
        return out

    # -- security ----------------------------------------------------------------------------

    def _scheme_name(self, scheme: SecurityBase) -> str:
        known = self._scheme_names.get(id(scheme))
        if known is not None:
            return known
        base = _slug(scheme.scheme_name) or "security"
        name = base
        n = 2
        while (
            name in self.security_schemes and self.security_schemes[name] != scheme.openapi_scheme
        ):
            name = f"{base}_{n}"
            n += 1
        self.security_schemes[name] = dict(scheme.openapi_scheme)
        self._scheme_names[id(scheme)] = name
        return name

    def _security(self, security: _Security) -> list[dict[str, list[str]]]:
        """One requirement with every scheme; when some are optional (``auto_error=False``)
        a second one with only the required schemes (possibly none: anonymous access)."""
        if not security.schemes:
            return []
        required: dict[str, list[str]] = {}
        optional: dict[str, list[str]] = {}
        for scheme, scopes in security.schemes.values():
            target = required if scheme.auto_error else optional
            target[self._scheme_name(scheme)] = list(scopes)
        if not optional:
            return [required]
        return [{**required, **optional}, required]


def _parameter_model(f: FieldSpec) -> Any:
    """The pydantic model of a query/header/cookie parameter model (FastAPI style), if any."""
    base = strip_optional(split_annotated(f.annotation)[0])
    return base if is_pydantic_model(base) else None
