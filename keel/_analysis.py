"""Startup-time analysis of handler and dependency signatures.

``compile_plan`` turns a handler (with its dependencies, resolved through overrides) into a
:class:`Plan`: the request-sourced fields to validate, the body to parse and an ordered list
of calls. Nothing here runs per request.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import inspect
import types
import typing
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import PurePath
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union, get_args, get_origin

from pydantic_core import PydanticUndefined

from keel._http import header_alias
from keel._schema import is_pydantic_model
from keel.background import BackgroundTasks
from keel.di import Depends, Security, call_kind, route_dependencies
from keel.params import Body, File, Form, Header, Param
from keel.requests import Request, UploadFile
from keel.responses import Response
from keel.security import SecurityBase, SecurityScopes, Wording

if TYPE_CHECKING:
    from pydantic.fields import FieldInfo

__all__ = ["Arg", "CallStep", "FieldSpec", "Plan", "compile_plan"]

_SCALARS: tuple[type, ...] = (
    str,
    int,
    float,
    bool,
    bytes,
    decimal.Decimal,
    uuid.UUID,
    datetime.date,
    datetime.datetime,
    datetime.time,
    datetime.timedelta,
    enum.Enum,
    PurePath,
)
_SEQUENCES = (list, set, frozenset, tuple, Sequence, typing.List, typing.Set)  # noqa: UP006


@dataclasses.dataclass(eq=False)
class FieldSpec:
    """One value taken from the request (path, query, header, cookie, body, form or file)."""

    key: str
    location: str
    name: str
    alias: str
    annotation: Any
    field_kwargs: dict[str, Any]
    required: bool
    is_sequence: bool
    marker: Param | None

    def field_info(self, **extra: Any) -> FieldInfo:
        """A fresh pydantic ``FieldInfo`` for this field, with ``extra`` options added."""
        from pydantic.fields import FieldInfo

        info: FieldInfo = FieldInfo(**{**self.field_kwargs, **extra})
        return info

    @property
    def default(self) -> Any:
        """The default value, or ``PydanticUndefined`` when required."""
        return self.field_kwargs.get("default", PydanticUndefined)

    @property
    def include_in_schema(self) -> bool:
        """Whether this field appears in the OpenAPI document."""
        return self.marker.include_in_schema if self.marker is not None else True


# Argument sources, encoded as small ints for a fast per-request loop. A CONSTANT's value
# is fixed at compile time (its ``ref``), e.g. a dependency's ``SecurityScopes``.
FIELD, DEP, REQUEST, BACKGROUND, RESPONSE, WEBSOCKET, CONSTANT = range(7)


@dataclasses.dataclass(eq=False)
class Arg:
    """How one keyword argument of a call is produced."""

    name: str
    source: int
    ref: Any = None


StepKind = Literal["async", "sync", "agen", "gen"]
"""How a step is called: awaited, run in a thread, or entered as an (async) generator."""

StepScope = Literal["request", "function", "handler"]
"""When a generator step's teardown runs: after the response, before it, or (the handler) n/a."""


@dataclasses.dataclass(eq=False)
class CallStep:
    """One call in a plan (a dependency or, last, the handler)."""

    call: Callable[..., Any]
    kind: StepKind
    args: list[Arg]
    scope: StepScope
    index: int
    original: Callable[..., Any]
    depends: Depends | None = None
    scopes: tuple[str, ...] = ()


@dataclasses.dataclass(eq=False)
class Plan:
    """Everything a request needs, computed once per route."""

    fields: list[FieldSpec]
    steps: list[CallStep]
    uses_request: bool = False
    uses_background: bool = False
    uses_response: bool = False
    has_generators: bool = False

    @property
    def params(self) -> list[FieldSpec]:
        """Path, query, header and cookie fields."""
        return [f for f in self.fields if f.location in ("path", "query", "header", "cookie")]

    @property
    def body_fields(self) -> list[FieldSpec]:
        """JSON body fields."""
        return [f for f in self.fields if f.location == "body"]

    @property
    def form_fields(self) -> list[FieldSpec]:
        """Form and file fields."""
        return [f for f in self.fields if f.location in ("form", "file")]

    @property
    def dependencies(self) -> list[CallStep]:
        """The dependency calls (the handler excluded)."""
        return self.steps[:-1]


def split_annotated(tp: Any) -> tuple[Any, list[Any]]:
    """``Annotated[T, a, b]`` -> ``(T, [a, b])``; anything else -> ``(tp, [])``."""
    if get_origin(tp) is Annotated:
        base, *meta = get_args(tp)
        return base, list(meta)
    return tp, []


def strip_optional(tp: Any) -> Any:
    """``T | None`` -> ``T``."""
    origin = get_origin(tp)
    if origin is Union or origin is types.UnionType:
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def is_scalar(tp: Any) -> bool:
    """Whether ``tp`` is a single plain value (str, int, Enum, Literal, UUID, date…)."""
    tp, _ = split_annotated(tp)
    origin = get_origin(tp)
    if origin is Union or origin is types.UnionType:
        return all(a is type(None) or is_scalar(a) for a in get_args(tp))
    if origin is Literal:
        return True
    if isinstance(tp, type):
        return issubclass(tp, _SCALARS) and not is_pydantic_model(tp)
    return False


def is_scalar_sequence(tp: Any) -> bool:
    """Whether ``tp`` is a list/set/tuple of scalars (e.g. ``list[int]``)."""
    tp = strip_optional(split_annotated(tp)[0])
    origin = get_origin(tp)
    if origin in _SEQUENCES:
        args = [a for a in get_args(tp) if a is not Ellipsis]
        return all(is_scalar(a) for a in args)
    return tp in (list, set, tuple)


def is_upload(tp: Any) -> bool:
    """Whether ``tp`` is ``UploadFile`` or a sequence of them."""
    tp = strip_optional(split_annotated(tp)[0])
    if get_origin(tp) in _SEQUENCES:
        args = get_args(tp)
        return bool(args) and strip_optional(args[0]) is UploadFile
    return tp is UploadFile


def _is_subclass(tp: Any, cls: type) -> bool:
    return isinstance(tp, type) and issubclass(tp, cls)


class _Compiler:
    def __init__(
        self, path_names: dict[str, Any], overrides: Mapping[Any, Any], wording: Wording
    ) -> None:
        self.path_names = path_names
        self.overrides = overrides
        self.wording = wording
        self.fields: dict[str, FieldSpec] = {}
        self.steps: list[CallStep] = []
        self.cache: dict[Any, int] = {}
        # Whether a call's subtree depends on OAuth2 scopes (known once it was analyzed).
        self.scoped: dict[Any, bool] = {}
        self.step_scoped: list[bool] = []
        self.active: list[Any] = []
        self.flags: set[int] = set()

    def add_call(
        self,
        call: Callable[..., Any],
        depends: Depends | None,
        scope: StepScope = "request",
        parent_scopes: tuple[str, ...] = (),
    ) -> int:
        original = call
        call = self.overrides.get(call, call)
        if isinstance(call, SecurityBase):
            call = call.worded(self.wording)
        own = depends.scopes if isinstance(depends, Security) else []
        scopes = (*parent_scopes, *(s for s in dict.fromkeys(own) if s not in parent_scopes))
        base_key = (original, depends.scope if depends else scope)
        use_cache = depends.use_cache if depends else True
        # As FastAPI: the scopes are part of the cache key only where they matter (the
        # dependency declares some, is a scheme, takes SecurityScopes or a sub-dependency does).
        scoped = self.scoped.get(base_key)
        if use_cache and scoped is not None:
            key = (*base_key, tuple(sorted(scopes)) if scoped or own else ())
            if key in self.cache:
                return self.cache[key]
        if original in self.active:
            chain = " -> ".join(getattr(c, "__qualname__", repr(c)) for c in self.active)
            raise TypeError(f"Dependency cycle: {chain} -> {getattr(original, '__qualname__', '')}")
        self.active.append(original)
        args = self.analyze(call, scopes)
        self.active.pop()
        scoped = (
            isinstance(call, SecurityBase)
            or any(a.source == CONSTANT and isinstance(a.ref, SecurityScopes) for a in args)
            or any(a.source == DEP and self.step_scoped[a.ref] for a in args)
        )
        self.scoped[base_key] = scoped
        step = CallStep(
            call=call,
            kind=call_kind(call),
            args=args,
            scope=depends.scope if depends else scope,
            index=len(self.steps),
            original=original,
            depends=depends,
            scopes=scopes,
        )
        self.steps.append(step)
        self.step_scoped.append(scoped or bool(own))
        if use_cache:
            self.cache[(*base_key, tuple(sorted(scopes)) if scoped or own else ())] = step.index
        return step.index

    def analyze(self, call: Callable[..., Any], scopes: tuple[str, ...] = ()) -> list[Arg]:
        try:
            sig = inspect.signature(call, eval_str=True)
        except NameError as exc:
            raise TypeError(
                f"Cannot resolve the annotations of {_describe(call)}: {exc}. Import the "
                "names it uses at module level."
            ) from exc
        except (TypeError, ValueError):
            return []
        args: list[Arg] = []
        for p in sig.parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            if p.kind is p.POSITIONAL_ONLY:
                raise TypeError(
                    f"{_describe(call)}: parameter {p.name!r} is positional-only; keel passes "
                    "arguments by name"
                )
            args.append(self.param(call, p, scopes))
        return args

    def param(self, call: Callable[..., Any], p: inspect.Parameter, scopes: tuple[str, ...]) -> Arg:
        annotation = p.annotation if p.annotation is not p.empty else Any
        base, meta = split_annotated(annotation)
        default = p.default
        marker: Param | None = None
        dep: Depends | None = None
        other_meta = []
        for m in meta:
            if isinstance(m, Depends):
                dep = m
            elif isinstance(m, Param):
                marker = m
            else:
                other_meta.append(m)
        if isinstance(default, Depends):
            dep, default = default, p.empty
        elif isinstance(default, Param):
            marker, default = default, p.empty
        if dep is not None:
            target = dep.dependency if dep.dependency is not None else base
            if not callable(target):
                raise TypeError(f"{_describe(call)}: Depends() on {p.name!r} has nothing to call")
            return Arg(p.name, DEP, self.add_call(target, dep, parent_scopes=scopes))
        plain = strip_optional(base)
        if marker is None:
            if getattr(get_origin(plain) or plain, "__keel_inject__", None) == "websocket":
                return Arg(p.name, WEBSOCKET)  # WebSocket or WebSocket[In, Out]
            if _is_subclass(plain, SecurityScopes):
                return Arg(p.name, CONSTANT, SecurityScopes(list(scopes)))
            if _is_subclass(plain, Request):
                self.flags.add(REQUEST)
                return Arg(p.name, REQUEST)
            if _is_subclass(plain, BackgroundTasks):
                self.flags.add(BACKGROUND)
                return Arg(p.name, BACKGROUND)
            if _is_subclass(plain, Response):
                self.flags.add(RESPONSE)
                return Arg(p.name, RESPONSE)
        pyd_annotation = Annotated[(base, *other_meta)] if other_meta else base
        location = self.location(p.name, base, marker)
        alias = (marker.alias if marker else None) or p.name
        if (
            location == "header"
            and (marker is None or marker.alias is None)
            and (not isinstance(marker, Header) or marker.convert_underscores)
        ):
            alias = header_alias(p.name)
        if location == "path" and p.name not in self.path_names:
            raise TypeError(
                f"{_describe(call)}: Path parameter {p.name!r} is not in the route's path"
            )
        has_default = default is not p.empty or (marker is not None and marker.has_default)
        if marker is not None:
            kwargs = marker.field_kwargs(default if default is not p.empty else PydanticUndefined)
        else:
            kwargs = {"default": default if default is not p.empty else PydanticUndefined}
        if location == "path":
            has_default = False
            kwargs.pop("default", None)
            kwargs.pop("default_factory", None)
            if base is Any:
                pyd_annotation = self.path_names[p.name]
        key = f"{location}:{alias}"
        spec = FieldSpec(
            key=key,
            location=location,
            name=p.name,
            alias=alias,
            annotation=pyd_annotation,
            field_kwargs=kwargs,
            required=not has_default,
            is_sequence=is_scalar_sequence(base) or (location == "file" and is_upload_list(base)),
            marker=marker,
        )
        existing = self.fields.get(key)
        if existing is None:
            self.fields[key] = spec
        return Arg(p.name, FIELD, key)

    def location(self, name: str, base: Any, marker: Param | None) -> str:
        if marker is not None:
            if isinstance(marker, File) or (isinstance(marker, Form) and is_upload(base)):
                return "file"
            return marker.location
        if name in self.path_names:
            return "path"
        if is_upload(base):
            return "file"
        if is_scalar(base) or is_scalar_sequence(base) or base is Any:
            return "query"
        return "body"


def is_upload_list(tp: Any) -> bool:
    """Whether ``tp`` is a sequence of ``UploadFile``."""
    tp = strip_optional(split_annotated(tp)[0])
    return get_origin(tp) in _SEQUENCES and is_upload(tp)


def compile_plan(
    handler: Callable[..., Any],
    path_names: dict[str, Any],
    overrides: Mapping[Any, Any],
    dependencies: Sequence[Depends] = (),
    auth_wording: Wording = "keel",
) -> Plan:
    """Analyze ``handler`` and its dependency graph into a :class:`Plan`.

    ``auth_wording`` is how the security schemes in the graph word their 401s (the app's
    ``auth_wording``).
    """
    c = _Compiler(path_names, overrides, auth_wording)
    for dep in [*dependencies, *route_dependencies(handler)]:
        if dep.dependency is None:
            raise TypeError("Route-level dependencies need a callable: Depends(fn)")
        c.add_call(dep.dependency, dep)
    c.add_call(handler, None, scope="handler")
    if inspect.isasyncgenfunction(handler):  # its items are server-sent events
        last = c.steps[-1]
        last.call, last.kind = _event_stream(last.call), "async"
    fields = list(c.fields.values())
    _check_fields(handler, fields, path_names)
    steps = c.steps
    return Plan(
        fields=fields,
        steps=steps,
        uses_request=REQUEST in c.flags,
        uses_background=BACKGROUND in c.flags,
        uses_response=RESPONSE in c.flags,
        has_generators=any(s.kind in ("agen", "gen") for s in steps),
    )


def _event_stream(fn: Callable[..., Any]) -> Callable[..., Any]:
    """An async function answering with an event stream of ``fn``'s async generator."""
    from keel.sse import EventSourceResponse

    async def call(**kwargs: Any) -> Any:
        return EventSourceResponse(fn(**kwargs))

    call.__name__ = call.__qualname__ = getattr(fn, "__qualname__", "stream")
    return call


def _check_fields(handler: Any, fields: list[FieldSpec], path_names: dict[str, Any]) -> None:
    has_body = any(f.location == "body" for f in fields)
    has_form = any(f.location in ("form", "file") for f in fields)
    if has_body and has_form:
        raise TypeError(
            f"{_describe(handler)} mixes JSON body and form parameters; a request has one body"
        )
    declared = {f.alias for f in fields if f.location == "path"}
    missing = set(path_names) - declared
    if missing:
        # Undeclared path parameters are still matched; they are passed as strings.
        for name in sorted(missing):
            fields.append(
                FieldSpec(
                    key=f"path:{name}",
                    location="path",
                    name=name,
                    alias=name,
                    annotation=path_names[name],
                    field_kwargs={},
                    required=True,
                    is_sequence=False,
                    marker=None,
                )
            )


def _describe(call: Any) -> str:
    name = getattr(call, "__qualname__", None) or repr(call)
    module = getattr(call, "__module__", None)
    return f"{module}.{name}" if module else str(name)


def body_is_embedded(body_fields: list[FieldSpec]) -> bool:
    """Whether the JSON body is an object keyed by parameter name."""
    if len(body_fields) != 1:
        return True
    m = body_fields[0].marker
    return isinstance(m, Body) and m.embed


def is_model_form(form_fields: list[FieldSpec]) -> bool:
    """A single ``Form()`` parameter annotated with a model takes all form fields."""
    if len(form_fields) != 1 or form_fields[0].location != "form":
        return False
    base = strip_optional(split_annotated(form_fields[0].annotation)[0])
    return is_pydantic_model(base) or dataclasses.is_dataclass(base)
