from __future__ import annotations

import ast
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import keel
import keel.responses

# Module-level names that are typing machinery, not API: ``T = TypeVar("T")``, loggers.
_HELPER_CALLS = {"TypeVar", "ParamSpec", "TypeVarTuple", "getLogger"}


def _public_modules() -> list[str]:
    """keel and every module below it whose dotted name has no ``_`` part."""
    names = ["keel"]
    for info in pkgutil.walk_packages(keel.__path__, "keel."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return names


def _is_helper(value: ast.expr | None) -> bool:
    if not isinstance(value, ast.Call):
        return False
    func = value.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name in _HELPER_CALLS


def _public_names(module: ModuleType) -> set[str]:
    """Names a module defines at top level (and, for a package, re-exports) with no ``_``.

    Read from the source, so constants count too; ``if TYPE_CHECKING:`` blocks, imported
    modules, a package's imports from outside keel and ``TypeVar``s/loggers do not.
    """
    assert module.__file__ is not None
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    is_package = module.__file__.endswith("__init__.py")
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign) and not _is_helper(node.value):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and not _is_helper(node.value):
            if isinstance(node.target, ast.Name):
                names.add(node.target.id)
        elif (
            is_package
            and isinstance(node, ast.ImportFrom)
            and (node.module or "").startswith("keel")  # a re-export from a keel module
        ):
            names.update(a.asname or a.name for a in node.names)
    return {
        n
        for n in names
        if not n.startswith("_") and not isinstance(getattr(module, n, None), ModuleType)
    }


def test_public_names_are_sorted_and_importable() -> None:
    assert keel.__all__ == sorted(keel.__all__)
    for name in keel.__all__:
        assert getattr(keel, name) is not None, name
    for name in keel.responses.__all__:
        assert getattr(keel.responses, name) is not None


@pytest.mark.parametrize("name", _public_modules())
def test_all_lists_every_public_name(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert len(set(exported)) == len(exported), f"{name}.__all__ repeats a name"
    missing = sorted(n for n in exported if not hasattr(module, n))
    assert missing == [], f"{name}.__all__ names what the module lacks: {missing}"
    unlisted = sorted(_public_names(module) - set(exported))
    assert unlisted == [], f"public names missing from {name}.__all__: {unlisted}"


def test_is_safe_url_is_exported() -> None:
    """The README's hostile-input section uses it."""
    assert "is_safe_url" in keel.responses.__all__
    assert keel.responses.is_safe_url("/next")
    assert not keel.responses.is_safe_url("//evil.example")


def test_import_keel_loads_no_battery_and_no_test_client() -> None:
    code = (
        "import sys, keel; "
        "bad = [m for m in sys.modules if m.startswith(('keel.db', 'httpx', 'sqlalchemy', "
        "'keel.testing', 'pydantic_settings', 'python_multipart', 'jinja2'))]; "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_settings_are_lazy_but_available() -> None:
    assert keel.Settings().max_body_size == 1024 * 1024
