"""``class AuthorRead(Schema, model=Author)``: a pydantic model whose fields come from columns."""

from __future__ import annotations

import sys
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict
from pydantic._internal._model_construction import ModelMetaclass
from sqlalchemy import inspect
from sqlalchemy.exc import NoInspectionAvailable

from keel.db.schema._columns import Mode, derive, is_database_default, model_doc

__all__ = ["Schema", "SchemaMeta", "apply"]

T = TypeVar("T")

_OPTIONS = ("model", "mode", "include", "exclude", "partial", "constraints")
_columns_of: dict[type[Any], frozenset[str]] = {}


class SchemaMeta(ModelMetaclass):
    """Reads the class keywords of :class:`Schema` and adds the model's columns as fields."""

    def __new__(
        mcs,
        cls_name: str,
        bases: tuple[type[Any], ...],
        namespace: dict[str, Any],
        **kwargs: Any,
    ) -> type:
        options = {key: kwargs.pop(key) for key in _OPTIONS if key in kwargs}
        if kwargs.get("__pydantic_reset_parent_namespace__", True):
            # pydantic keeps the defining function's locals to resolve forward references,
            # looking two frames up from its own __new__: one frame too close from here.
            frame = sys._getframe(1)
            local = frame.f_code.co_name != "<module>" and frame.f_locals is not frame.f_globals
            namespace["__pydantic_parent_namespace__"] = dict(frame.f_locals) if local else None
            kwargs["__pydantic_reset_parent_namespace__"] = False
        if options:
            _add_columns(cls_name, namespace, options)
        return super().__new__(mcs, cls_name, bases, namespace, **kwargs)


def _add_columns(cls_name: str, namespace: dict[str, Any], options: dict[str, Any]) -> None:
    model = options.get("model")
    if model is None:
        given = ", ".join(f"{key}=" for key in options)
        raise TypeError(f"{cls_name}: {given} only apply with model=<a mapped class>")
    mode: Mode = options.get("mode", "read")
    partial: bool | None = options.get("partial")
    if partial is None:
        partial = mode == "update"
    include: Collection[str] | None = options.get("include")
    exclude: Collection[str] = options.get("exclude", ())
    constraints: Mapping[str, Any] = options.get("constraints") or {}
    body: dict[str, Any] = namespace.get("__annotations__", {})
    overridden = set(constraints) & set(body)
    if overridden:
        raise TypeError(
            f"{cls_name}: {', '.join(sorted(overridden))} declared in the class body and in"
            " constraints=; put the constraint on the declaration"
        )
    fields = derive(
        model,
        mode=mode,
        include=include,
        exclude=exclude,
        partial=partial,
        constraints=constraints,
        owner=cls_name,
    )
    annotations: dict[str, Any] = {}
    for name, (annotation, info) in fields.items():
        if name in body:
            annotations[name] = body[name]  # the body's declaration wins, in the column's place
        elif name not in namespace:
            annotations[name] = annotation
            namespace[name] = info
    for name, annotation in body.items():
        annotations.setdefault(name, annotation)
    namespace["__annotations__"] = annotations
    namespace["model_config"] = {
        "extra": "ignore" if mode == "read" else "forbid",
        **namespace.get("model_config", {}),
    }
    namespace.setdefault("__doc__", model_doc(model, mode))
    namespace["__keel_model__"] = model
    namespace["__keel_partial__"] = partial


class Schema(BaseModel, metaclass=SchemaMeta):
    """A pydantic model whose fields are a mapped class's columns.

    Class keywords:
        model: the mapped class (a ``keel.db.Model`` subclass).
        mode: ``"read"`` (default): every column, all required, validated from ORM objects;
            ``"create"``: the columns a client may set (server-set ones such as
            auto-increment keys, timestamps and versions left out), optional when the
            column has a default or allows NULL; ``"update"``: like create, all optional.
        include: only these column attributes.
        exclude: leave out these column attributes.
        partial: every field optional and unset when omitted (the default for ``"update"``).
        constraints: more validation per column without redeclaring it, e.g.
            ``{"name": NotBlank}`` or ``{"name": Field(min_length=3)}``.

    Fields declared in the class body replace a column's field (same name) or add one
    (a relationship, a computed value). Aliases (``alias_generator=to_camel``) are accepted
    under either name and used in responses and the OpenAPI document. With the
    ``keel.db.mypy`` plugin, mypy gives the fields taken from the model their column types.

    Example:
        class AuthorRead(Schema, model=Author):
            books: list[BookRead] = []

        class AuthorCreate(Schema, model=Author, mode="create",
                           constraints={"name": NotBlank}):
            pass
    """

    model_config = ConfigDict(
        from_attributes=True,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )

    __keel_model__: ClassVar[type[Any] | None] = None
    __keel_partial__: ClassVar[bool] = False

    if TYPE_CHECKING:
        # Fields taken from the model are not declared in the class body, so a type
        # checker sees them as ``Any``; declare one in the body to give it a precise type.
        def __getattr__(self, name: str) -> Any: ...

        def __init_subclass__(
            cls,
            *,
            model: type[Any] = ...,
            mode: Mode = ...,
            include: Collection[str] | None = ...,
            exclude: Collection[str] = ...,
            partial: bool | None = ...,
            constraints: Mapping[str, Any] | None = ...,
            **config: Any,
        ) -> None: ...

    def apply(self, obj: T) -> T:
        """Write this schema's values onto the ORM object ``obj`` (a PATCH or PUT).

        Only column attributes of ``obj`` are written (a nested list of books is not).
        A partial schema writes only the fields the client sent; a full one also writes
        the defaults of omitted fields, except those the database fills in.

        Example:
            data.apply(author)            # PATCH
            author = data.apply(Author()) # create
        """
        columns = _column_names(type(obj))
        sent = self.model_fields_set
        partial = self.__keel_partial__
        for name, info in type(self).model_fields.items():
            if name not in columns:
                continue
            if name not in sent and (partial or is_database_default(info)):
                continue
            setattr(obj, name, getattr(self, name))
        return obj


def apply(obj: T, data: BaseModel) -> T:
    """Set the column values a client sent (``exclude_unset``) on an ORM object.

    Fields that are not columns of ``obj`` (a nested relationship) are skipped. For a
    :class:`Schema`, this is ``data.apply(obj)``.

    Example:
        apply(author, AuthorUpdate(name="New"))  # other columns untouched
    """
    if isinstance(data, Schema):
        return data.apply(obj)
    columns = _column_names(type(obj))
    sent = data.model_fields_set
    for name in type(data).model_fields:
        if name in sent and name in columns:
            setattr(obj, name, getattr(data, name))
    return obj


def _column_names(cls: type[Any]) -> frozenset[str]:
    names = _columns_of.get(cls)
    if names is None:
        try:
            mapper = inspect(cls)
        except NoInspectionAvailable:
            raise TypeError(f"apply(): {cls.__name__} is not a mapped class") from None
        names = frozenset(prop.key for prop in mapper.column_attrs)
        _columns_of[cls] = names
    return names
