"""Find the keel apps in ``examples/`` (every module defining a keel ``App``)."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from keel import App

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
_SKIP_PARTS = {"tests", "migrations", "__pycache__"}


def example_modules() -> list[str]:
    """Dotted names of the example modules that construct an app."""
    names = []
    for path in sorted(EXAMPLES.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if _SKIP_PARTS & set(rel.parts) or path.name.startswith(("test_", "conftest")):
            continue
        text = path.read_text(encoding="utf-8")
        if "App(" not in text and "FastAPI(" not in text:
            continue
        names.append(".".join(rel.with_suffix("").parts).removesuffix(".__init__"))
    return names


def load(target: str) -> tuple[ModuleType, App]:
    """Import ``module`` (or ``module:attr``) and return it with its app."""
    name, _, attr = target.partition(":")
    module = importlib.import_module(name)
    app = getattr(module, attr or "app")
    assert isinstance(app, App), f"{target} is not a keel App"
    return module, app


def example_apps() -> list[str]:
    """``module:attr`` targets of every keel app defined in the examples."""
    targets = []
    for name in example_modules():
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if isinstance(value, App) and not attr.startswith("_"):
                targets.append(f"{name}:{attr}")
    return targets
