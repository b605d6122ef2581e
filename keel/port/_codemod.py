"""The libcst transformer behind ``keel port fastapi``: imports and their uses, nothing else.

It keeps every comment and every formatting choice of the lines it does not rewrite, and a
second run changes nothing (keel imports are never in the table).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from keel.port.mapping import HINTS, MODULES, NAMES, NATIVE_NAMES, PRIVATE, Target

__all__ = ["FileResult", "port_source"]


@dataclass
class FileResult:
    """What porting one file did.

    Attributes:
        source: The original text.
        result: The rewritten text (equal to ``source`` when nothing changed).
        changes: One line per rewrite ("line 3: fastapi.Depends -> keel.Depends").
        hands: One line per thing left for a person (a name keel lacks, a private import).
    """

    source: str
    result: str
    changes: list[str] = field(default_factory=list)
    hands: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether the text was rewritten."""
        return self.result != self.source


def _dotted(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        head = _dotted(node.value)
        return None if head is None else f"{head}.{node.attr.value}"
    return None


def _expr(dotted: str) -> cst.Name | cst.Attribute:
    parts = dotted.split(".")
    node: cst.Name | cst.Attribute = cst.Name(parts[0])
    for part in parts[1:]:
        node = cst.Attribute(value=node, attr=cst.Name(part))
    return node


def _is_ours(module: str) -> bool:
    return module.split(".", 1)[0] in ("fastapi", "starlette")


def _private(module: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in PRIVATE)


def _hint(dotted: str) -> str:
    for key in (dotted, dotted.rsplit(".", 1)[0]):
        if key in HINTS:
            return f": {HINTS[key]}"
    return ""


@cache
def missing(module: str, name: str | None) -> str | None:
    """Why ``module.name`` cannot be imported from this keel, or None when it can.

    Decided by importing it, so the answer follows the installed keel.
    """
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return f"{module} is not yet available"
    if name is None or hasattr(mod, name):
        return None
    try:
        importlib.import_module(f"{module}.{name}")
    except ImportError:
        return f"{module}.{name} is not yet available"
    return None


def _longest_module(dotted: str) -> str | None:
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in MODULES:
            return candidate
    return None


def _closing_line(node: cst.ImportFrom) -> cst.SimpleWhitespace | None:
    """The indentation before the ``)`` of a parenthesized multi-line import."""
    names = node.names
    if isinstance(names, cst.ImportStar) or not names:
        return None
    comma = names[-1].comma
    if isinstance(comma, cst.Comma) and isinstance(
        comma.whitespace_after, cst.ParenthesizedWhitespace
    ):
        return comma.whitespace_after.last_line
    return None


def _has_comment(alias: cst.ImportAlias) -> bool:
    comma = alias.comma
    if isinstance(comma, cst.Comma) and isinstance(
        comma.whitespace_after, cst.ParenthesizedWhitespace
    ):
        return comma.whitespace_after.first_line.comment is not None
    return False


def _close_with(alias: cst.ImportAlias, last_line: cst.SimpleWhitespace) -> cst.ImportAlias:
    comma = alias.comma
    if isinstance(comma, cst.Comma) and isinstance(
        comma.whitespace_after, cst.ParenthesizedWhitespace
    ):
        after = comma.whitespace_after.with_changes(last_line=last_line)
        return alias.with_changes(comma=comma.with_changes(whitespace_after=after))
    return alias


def resolve_use(
    dotted: str, bindings: dict[str, str], native: bool
) -> tuple[str, str, str, str | None] | None:
    """Resolve ``fastapi.x.y`` (through an import binding) to its keel spelling.

    Returns:
        ``(full FastAPI name, keel expression, keel module to import, name checked)``, or
        None when the root is no FastAPI import; the expression is empty when keel has no
        equivalent module.
    """
    root, _, rest = dotted.partition(".")
    if root not in bindings:
        return None
    full = f"{bindings[root]}.{rest}" if rest else bindings[root]
    module = _longest_module(full)
    if module is None:
        return full, "", "", None
    tail = full[len(module) + 1 :].split(".") if full != module else []
    if not tail:
        return full, MODULES[module], MODULES[module], None
    tmod, tname = target(module, tail[0], native)
    return full, ".".join([tmod, tname, *tail[1:]]), tmod, tname


def target(module: str, name: str, native: bool) -> Target:
    """Where ``name`` of FastAPI's ``module`` lives in keel."""
    key = (module, name)
    if native and key in NATIVE_NAMES:
        return NATIVE_NAMES[key]
    return NAMES.get(key, (MODULES[module], name))


class _Porter(cst.CSTTransformer):
    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, native: bool, first: _Bindings) -> None:
        super().__init__()
        self.bare_uses = first.bare & set(first.bindings)
        self.needed = first.needed
        bindings = first.bindings
        self.native = native
        self.bindings = bindings  # local name of `import fastapi[ as x]` -> module
        self.changes: list[str] = []
        self.hands: list[str] = []
        self.renames: dict[str, str] = {}
        self.replacements: dict[int, cst.BaseExpression] = {}
        self.skip_names: set[int] = set()
        self.split: set[int] = set()

    def _line(self, node: cst.CSTNode) -> int:
        return self.get_metadata(PositionProvider, node).start.line

    def _target(self, module: str, name: str) -> Target:
        return target(module, name, self.native)

    def _check(self, line: int, module: str, name: str | None, original: str) -> None:
        reason = missing(module, name)
        if reason is not None:
            self.hands.append(f"line {line}: {original}: {reason}{_hint(original)}")

    # -- from X import a, b -------------------------------------------------------------

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> cst.SimpleStatementLine | cst.FlattenSentinel[cst.SimpleStatementLine]:
        if len(updated_node.body) != 1:
            return updated_node
        node = updated_node.body[0]
        if isinstance(node, cst.Import) and len(node.names) > 1 and id(node) in self.split:
            return cst.FlattenSentinel(
                [
                    updated_node.with_changes(
                        body=[node.with_changes(names=[alias])],
                        leading_lines=updated_node.leading_lines if index == 0 else (),
                        trailing_whitespace=(
                            updated_node.trailing_whitespace
                            if index == len(node.names) - 1
                            else cst.TrailingWhitespace()
                        ),
                    )
                    for index, alias in enumerate(node.names)
                ]
            )
        if not isinstance(node, cst.ImportFrom):
            return updated_node
        if node.relative or node.module is None:
            return updated_node
        module = _dotted(node.module)
        if module is None or not _is_ours(module):
            return updated_node
        line = self._line(original_node)
        if module not in MODULES:
            what = (
                "a private FastAPI/Starlette import" if _private(module) else "no keel equivalent"
            )
            self.hands.append(f"line {line}: from {module} import ...: {what}{_hint(module)}")
            return updated_node
        if isinstance(node.names, cst.ImportStar):
            self.changes.append(f"line {line}: from {module} import * -> from {MODULES[module]}")
            self._check(line, MODULES[module], None, module)
            return updated_node.with_changes(
                body=[node.with_changes(module=_expr(MODULES[module]))]
            )
        groups: dict[str, list[cst.ImportAlias]] = {}
        for alias in node.names:
            name = _dotted(alias.name) or ""
            tmod, tname = self._target(module, name)
            self._check(line, tmod, tname, f"{module}.{name}")
            new_alias = alias
            if tname != name:
                new_alias = alias.with_changes(name=cst.Name(tname))
                if alias.asname is None:
                    self.renames[name] = tname
            groups.setdefault(tmod, []).append(new_alias)
            shown = f"{tmod}.{tname}"
            self.changes.append(f"line {line}: {module}.{name} -> {shown}")
        statements = []
        closing = _closing_line(node)
        for index, (tmod, aliases) in enumerate(groups.items()):
            single = len(groups) > 1 and len(aliases) == 1 and not _has_comment(aliases[0])
            if node.lpar is None or single:  # a trailing comma needs the parentheses
                aliases[-1] = aliases[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
            elif closing is not None:
                aliases[-1] = _close_with(aliases[-1], closing)
            new_import = node.with_changes(module=_expr(tmod), names=aliases)
            if single:
                new_import = new_import.with_changes(lpar=None, rpar=None)
            last = index == len(groups) - 1
            statements.append(
                updated_node.with_changes(
                    body=[new_import],
                    leading_lines=updated_node.leading_lines if index == 0 else (),
                    trailing_whitespace=(
                        updated_node.trailing_whitespace if last else cst.TrailingWhitespace()
                    ),
                )
            )
        if len(statements) == 1:
            return statements[0]
        return cst.FlattenSentinel(statements)

    # -- import fastapi[.x] [as y] ------------------------------------------------------

    def leave_Import(
        self, original_node: cst.Import, updated_node: cst.Import
    ) -> cst.Import | cst.RemovalSentinel:
        line = self._line(original_node)
        kept: list[cst.ImportAlias] = []
        added: list[str] = []
        touched = False
        for alias in updated_node.names:
            module = _dotted(alias.name) or ""
            if not _is_ours(module):
                kept.append(alias)
                continue
            if module not in MODULES:
                what = (
                    "a private FastAPI/Starlette import"
                    if _private(module)
                    else "no keel equivalent"
                )
                self.hands.append(f"line {line}: import {module}: {what}{_hint(module)}")
                kept.append(alias)
                continue
            touched = True
            local = module.split(".")[0]
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                local = alias.asname.name.value
            needed = self.needed.get(local, [])
            if alias.asname is not None and local in self.bare_uses:
                kept.append(alias.with_changes(name=_expr(MODULES[module])))
                self.hands.append(
                    f"line {line}: {local} is used as a module object; "
                    f"it now names {MODULES[module]}, check each use"
                )
            for target in needed or ([] if alias.asname else [MODULES[module]]):
                if target not in added:
                    added.append(target)
            self.changes.append(
                f"line {line}: import {module} -> import {', '.join(needed) or MODULES[module]}"
            )
        if not touched:
            return updated_node
        names = kept + [cst.ImportAlias(name=_expr(target)) for target in added]
        if not names:
            return cst.RemoveFromParent()
        fixed = [a.with_changes(comma=cst.MaybeSentinel.DEFAULT) for a in names]
        new = updated_node.with_changes(names=fixed)
        self.split.add(id(new))  # one import per line (leave_SimpleStatementLine)
        return new

    # -- uses ---------------------------------------------------------------------------

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        return False  # rewritten as a whole by leave_SimpleStatementLine

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        dotted = _dotted(node)
        found = None if dotted is None else resolve_use(dotted, self.bindings, self.native)
        if found is None:
            self.skip_names.add(id(node.attr))
            return True
        full, new, tmod, tname = found
        line = self._line(node)
        if not new:
            self.hands.append(f"line {line}: {full}: no keel equivalent{_hint(full)}")
            return False
        self._check(line, tmod, tname, full)
        self.replacements[id(node)] = _expr(new)
        self.changes.append(f"line {line}: {full} -> {new}")
        return False

    def leave_Attribute(
        self, original_node: cst.Attribute, updated_node: cst.Attribute
    ) -> cst.BaseExpression:
        new = self.replacements.get(id(original_node))
        if new is None:
            return updated_node
        return new.with_changes(lpar=updated_node.lpar, rpar=updated_node.rpar)

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.Name:
        if id(original_node) in self.skip_names:
            return updated_node
        new = self.renames.get(original_node.value)
        return updated_node if new is None else updated_node.with_changes(value=new)

    def visit_ImportAlias(self, node: cst.ImportAlias) -> bool:
        return False  # names inside imports are handled by the import's own rewrite


class _Bindings(cst.CSTVisitor):
    """First pass: the local names bound by ``import fastapi...`` and their bare uses."""

    def __init__(self, native: bool) -> None:
        super().__init__()
        self.native = native
        self.needed: dict[str, list[str]] = {}  # binding -> keel modules its uses need
        self.bindings: dict[str, str] = {}
        self.bare: set[str] = set()
        self._in_attr: set[int] = set()

    def visit_Import(self, node: cst.Import) -> bool:
        for alias in node.names:
            module = _dotted(alias.name) or ""
            if module in MODULES:
                if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                    self.bindings[alias.asname.name.value] = module
                else:
                    root = module.split(".")[0]
                    self.bindings[root] = root
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        return False

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        self._in_attr.add(id(node.value))
        self._in_attr.add(id(node.attr))
        dotted = _dotted(node)
        if dotted is None:
            return True
        found = resolve_use(dotted, self.bindings, self.native)
        if found is None:
            return True
        if found[2]:
            needed = self.needed.setdefault(dotted.partition(".")[0], [])
            if found[2] not in needed:
                needed.append(found[2])
        return False

    def visit_Name(self, node: cst.Name) -> bool:
        if id(node) not in self._in_attr:
            self.bare.add(node.value)
        return False


def port_source(source: str, *, native: bool = False) -> FileResult:
    """Rewrite one module's FastAPI/Starlette imports (and their uses) to keel.

    Args:
        source: The module's text.
        native: Rewrite ``FastAPI`` to ``keel.App`` instead of the compatibility class.

    Raises:
        libcst.ParserSyntaxError: The text is not valid Python.
    """
    module = cst.parse_module(source)
    first = _Bindings(native)
    module.visit(first)
    porter = _Porter(native, first)
    result = MetadataWrapper(module).visit(porter)
    return FileResult(source, result.code, porter.changes, _unique(porter.hands))


def _unique(lines: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(lines))
