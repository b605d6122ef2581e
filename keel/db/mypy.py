"""A mypy plugin: the fields a :class:`~keel.db.Schema` takes from its model get the columns' types.

Without it, mypy sees those fields as ``Any``. It includes pydantic's plugin, so list it
instead of ``pydantic.mypy``, or before it::

    [tool.mypy]
    plugins = ["keel.db.mypy"]

A field has the type of its ``Mapped[...]`` annotation; ``T | None`` where the schema may
leave it ``None``: every field of a partial schema, and in a create schema the columns the
database fills in when they are omitted. Columns a create or update schema leaves out
(auto-increment keys, ``info=READ_ONLY`` columns such as ``Timestamps``, identity and
computed columns) are left out here too, as are those ``include=``/``exclude=`` leave out
when they are written as literals (a set, list or tuple of strings).
"""

from __future__ import annotations

from collections.abc import Callable

from mypy.errorcodes import ATTR_DEFINED
from mypy.nodes import (
    MDEF,
    AssignmentStmt,
    CallExpr,
    Context,
    Decorator,
    Expression,
    FuncBase,
    LambdaExpr,
    ListExpr,
    MemberExpr,
    MypyFile,
    NameExpr,
    RefExpr,
    SetExpr,
    StrExpr,
    SymbolTableNode,
    TempNode,
    TupleExpr,
    TypeInfo,
    Var,
)
from mypy.plugin import (
    AttributeContext,
    ClassDefContext,
    Plugin,
    SemanticAnalyzerPluginInterface,
)
from mypy.types import (
    AnyType,
    Instance,
    NoneType,
    Type,
    TypeOfAny,
    UnboundType,
    UnionType,
    get_proper_type,
)
from pydantic.mypy import PydanticPlugin

__all__ = ["KeelPlugin", "plugin"]

_SCHEMA = "keel.db.schema._class.Schema"
_MAPPED = "sqlalchemy.orm.base.Mapped"
_DECLARATIVE = (
    "sqlalchemy.orm.decl_api.DeclarativeBase",
    "sqlalchemy.orm.decl_api.DeclarativeBaseNoMeta",
)
_KEY = "keel.db"
# The flags of a column, from its declaration: left out of write schemas / None when omitted.
_SERVER_SET = "server_set"
_DATABASE_DEFAULT = "database_default"
_DEFAULT_REF = "default="


class KeelPlugin(PydanticPlugin):
    """pydantic's plugin, plus column types for the fields of ``keel.db.Schema`` classes."""

    def get_customize_class_mro_hook(
        self, fullname: str
    ) -> Callable[[ClassDefContext], None] | None:
        """Note each class's ``mapped_column`` declarations (read from its syntax)."""
        return _note_columns

    def get_attribute_hook(self, fullname: str) -> Callable[[AttributeContext], Type] | None:
        """Report a name no field has: ``Schema.__getattr__`` exists only for other tools."""
        if fullname.startswith(_SCHEMA + "."):
            return _known_attribute
        return super().get_attribute_hook(fullname)

    def get_base_class_hook(self, fullname: str) -> Callable[[ClassDefContext], None] | None:
        """Add the model's columns to a ``Schema`` subclass, then run pydantic's transform."""
        hook = super().get_base_class_hook(fullname)
        sym = self.lookup_fully_qualified(fullname)
        if hook is None or sym is None or not isinstance(sym.node, TypeInfo):
            return hook
        if not sym.node.has_base(_SCHEMA):
            return hook
        pydantic_hook = hook

        def add_columns_then_pydantic(ctx: ClassDefContext) -> None:
            _add_columns(ctx)
            pydantic_hook(ctx)

        return add_columns_then_pydantic


def plugin(version: str) -> type[Plugin]:
    """The entry point mypy calls."""
    return KeelPlugin


def _known_attribute(ctx: AttributeContext) -> Type:
    name = _attribute_name(ctx.context)
    owner = get_proper_type(ctx.type)
    if name is None or not isinstance(owner, Instance) or owner.type.get(name) is not None:
        return ctx.default_attr_type
    ctx.api.fail(f'"{owner.type.name}" has no attribute "{name}"', ctx.context, code=ATTR_DEFINED)
    return AnyType(TypeOfAny.from_error)


def _attribute_name(context: Context) -> str | None:
    return context.name if isinstance(context, MemberExpr) else None


def _note_columns(ctx: ClassDefContext) -> None:
    columns: dict[str, list[str]] = {}
    for stmt in ctx.cls.defs.body:
        if not isinstance(stmt, AssignmentStmt) or len(stmt.lvalues) != 1:
            continue
        target = stmt.lvalues[0]
        annotation = stmt.unanalyzed_type
        if not isinstance(target, NameExpr) or not isinstance(annotation, UnboundType):
            continue
        if annotation.name.rsplit(".", 1)[-1] != "Mapped":
            continue
        value = stmt.rvalue
        if isinstance(value, TempNode):  # a bare annotation: `bio: Mapped[str | None]`
            columns[target.name] = []
        elif isinstance(value, CallExpr) and _callee_name(value) == "mapped_column":
            columns[target.name] = _flags(value)
    if columns:
        ctx.cls.info.metadata[_KEY] = {"columns": columns}


def _flags(call: CallExpr) -> list[str]:
    keywords = {name: arg for name, arg in zip(call.arg_names, call.args, strict=True) if name}
    positional = [arg for name, arg in zip(call.arg_names, call.args, strict=True) if not name]
    flags: list[str] = []
    info = keywords.get("info")
    generated = any(
        isinstance(arg, CallExpr) and _callee_name(arg) in ("Identity", "Computed")
        for arg in positional
    )
    if generated or (info is not None and _ref_name(info) == "READ_ONLY"):
        flags.append(_SERVER_SET)
    elif _is_true(keywords.get("primary_key")) and not _is_false(keywords.get("autoincrement")):
        flags.append(_SERVER_SET)  # an auto-increment or defaulted key
    if "server_default" in keywords:
        flags.append(_DATABASE_DEFAULT)
    for name in ("default", "insert_default"):
        default = keywords.get(name)
        if isinstance(default, CallExpr | LambdaExpr):
            flags.append(_DATABASE_DEFAULT)  # computed at INSERT, not a schema default
        elif default is not None and (dotted := _dotted(default)) is not None:
            flags.append(_DEFAULT_REF + dotted)  # a function (computed) or a value: see later
    return flags


def _add_columns(ctx: ClassDefContext) -> None:
    keywords = ctx.cls.keywords
    model_expr = keywords.get("model")
    if not isinstance(model_expr, RefExpr):
        return
    model = model_expr.node
    if not isinstance(model, TypeInfo):
        if not ctx.api.final_iteration:
            ctx.api.defer()
        return
    mode = _string(keywords.get("mode")) or "read"
    partial_expr = keywords.get("partial")
    partial = _is_true(partial_expr) if partial_expr is not None else mode == "update"
    include = _strings(keywords.get("include"))
    exclude = _strings(keywords.get("exclude")) or set()
    info = ctx.cls.info
    for name, (owner, column_type, flags) in _model_columns(model).items():
        if name in info.names or name in exclude or (include is not None and name not in include):
            continue
        if mode != "read" and _SERVER_SET in flags:
            continue
        database_default = _DATABASE_DEFAULT in flags or any(
            flag.startswith(_DEFAULT_REF)
            and _is_callable(ctx.api, owner.module_name, flag.removeprefix(_DEFAULT_REF))
            for flag in flags
        )
        field_type = column_type
        if partial or (mode == "create" and database_default):
            field_type = UnionType.make_union([column_type, NoneType()])
        var = Var(name, field_type)
        var.info = info
        var._fullname = f"{info.fullname}.{name}"
        info.names[name] = SymbolTableNode(MDEF, var, plugin_generated=True)


def _model_columns(model: TypeInfo) -> dict[str, tuple[TypeInfo, Type, list[str]]]:
    columns: dict[str, tuple[TypeInfo, Type, list[str]]] = {}
    for cls in reversed(model.mro):
        noted = cls.metadata.get(_KEY, {}).get("columns", {})
        for name, flags in noted.items():
            sym = cls.names.get(name)
            node = sym.node if sym is not None else None
            if not isinstance(node, Var) or node.type is None:
                continue
            mapped = get_proper_type(node.type)
            if not isinstance(mapped, Instance) or mapped.type.fullname != _MAPPED:
                continue
            if not mapped.args or _is_mapped_class(mapped.args[0]):
                continue
            columns[name] = (cls, mapped.args[0], list(flags))
    return columns


def _is_mapped_class(tp: Type) -> bool:
    proper = get_proper_type(tp)
    if not isinstance(proper, Instance):
        return False
    if any(proper.type.has_base(base) for base in _DECLARATIVE):
        return True
    return (
        bool(proper.args)
        and proper.type.fullname
        in (
            "builtins.list",
            "builtins.set",
        )
        and _is_mapped_class(proper.args[0])
    )


def _callee_name(call: CallExpr) -> str | None:
    return _ref_name(call.callee)


def _ref_name(expr: Expression) -> str | None:
    if isinstance(expr, NameExpr | MemberExpr):
        return expr.name
    return None


def _is_true(expr: Expression | None) -> bool:
    return isinstance(expr, NameExpr) and expr.name == "True"


def _is_false(expr: Expression | None) -> bool:
    return isinstance(expr, NameExpr) and expr.name == "False"


def _string(expr: Expression | None) -> str | None:
    return expr.value if isinstance(expr, StrExpr) else None


def _strings(expr: Expression | None) -> set[str] | None:
    if not isinstance(expr, SetExpr | ListExpr | TupleExpr):
        return None
    values = {item.value for item in expr.items if isinstance(item, StrExpr)}
    return values if len(values) == len(expr.items) else None


def _dotted(expr: Expression) -> str | None:
    if isinstance(expr, NameExpr):
        return expr.name
    if isinstance(expr, MemberExpr):
        head = _dotted(expr.expr)
        return None if head is None else f"{head}.{expr.name}"
    return None


def _is_callable(api: SemanticAnalyzerPluginInterface, module: str, dotted: str) -> bool:
    first, *rest = dotted.split(".")
    sym = api.lookup_fully_qualified_or_none(f"{module}.{first}")
    node = sym.node if sym is not None else None
    for part in rest:
        if not isinstance(node, TypeInfo | MypyFile):
            return False
        child = node.names.get(part)
        node = child.node if child is not None else None
    if isinstance(node, Var) and node.info is not None and node.info.is_enum:
        return False
    return isinstance(node, FuncBase | Decorator | TypeInfo)
