"""``schema(Author, mode="create")``: the function form, building a :class:`Schema` subclass."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from keel.db.schema._class import Schema, SchemaMeta
from keel.db.schema._columns import Mode

__all__ = ["schema"]

_cache: dict[Any, type[Schema]] = {}


def schema(
    model: type[Any],
    *,
    mode: Mode = "read",
    include: Collection[str] | None = None,
    exclude: Collection[str] = (),
    partial: bool | None = None,
    name: str | None = None,
    extra: Mapping[str, Any] | None = None,
    constraints: Mapping[str, Any] | None = None,
) -> type[Schema]:
    """Derive a schema from a model's columns, as a value (the class form is the primary one).

    ``schema(Author, mode="create")`` builds the same class as ``class AuthorCreate(Schema,
    model=Author, mode="create")``. A type checker cannot use the result as a type (a
    return annotation or a base class); write the class form for that.

    Args:
        model: a mapped class (a ``keel.db.Model`` subclass).
        mode: ``"read"``, ``"create"`` or ``"update"``, as for :class:`Schema`.
        include: only these column attributes.
        exclude: leave out these column attributes.
        partial: make every field optional (the default for ``"update"``).
        name: the schema's name (in OpenAPI); ``<Model><Mode>`` by default, e.g.
            ``AuthorRead``. Give one when deriving two variants for the same mode.
        extra: more fields that are not columns, e.g. a relationship:
            ``{"books": list[BookRead]}``; a value is a type or a ``(type, default)``.
        constraints: more validation per column, e.g. ``{"name": NotBlank}``.

    Returns:
        The schema class (the same class for the same arguments).

    Example:
        AuthorRead = schema(Author)
    """
    is_partial = mode == "update" if partial is None else partial
    schema_name = name or f"{model.__name__}{mode.capitalize()}"
    key = (
        model,
        mode,
        None if include is None else frozenset(include),
        frozenset(exclude),
        is_partial,
        schema_name,
        _freeze(extra),
        _freeze(constraints),
    )
    cacheable = key[-1] is not None and key[-2] is not None
    cached = _cache.get(key) if cacheable else None
    if cached is not None:
        return cached
    annotations: dict[str, Any] = {}
    namespace: dict[str, Any] = {
        "__module__": model.__module__,
        "__qualname__": schema_name,
        "__annotations__": annotations,
    }
    for field_name, spec in (extra or {}).items():
        if isinstance(spec, tuple):
            annotations[field_name], namespace[field_name] = spec
        else:
            annotations[field_name] = spec
            if is_partial:
                namespace[field_name] = None
    derived: type[Schema] = SchemaMeta(
        schema_name,
        (Schema,),
        namespace,
        model=model,
        mode=mode,
        include=include,
        exclude=exclude,
        partial=is_partial,
        constraints=constraints or {},
        __pydantic_reset_parent_namespace__=False,
    )
    if cacheable:
        _cache[key] = derived
    return derived


def _freeze(extra: Mapping[str, Any] | None) -> Any:
    if not extra:
        return ()
    try:
        frozen = tuple(sorted(extra.items()))
        hash(frozen)
    except TypeError:
        return None
    return frozen
