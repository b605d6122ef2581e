"""Find the keel apps in ``examples/`` without importing them.

Example apps are checked in their own process: an example may declare SQLAlchemy models
whose names clash with other test models on the shared declarative registry.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from types import ModuleType

from keel import App

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
_SKIP_PARTS = {"tests", "migrations", "__pycache__"}
_APP_ASSIGNMENT = re.compile(
    r"^(\w+)[ \t]*(?::[^=\n]+)?=\s*(?:\w+\.)?(?:App|FastAPI)\(", re.MULTILINE
)


def example_targets() -> list[str]:
    """``module:attr`` of every app constructed at module level in ``examples/``."""
    targets = []
    for path in sorted(EXAMPLES.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if _SKIP_PARTS & set(rel.parts) or path.name.startswith(("test_", "conftest")):
            continue
        module = ".".join(rel.with_suffix("").parts).removesuffix(".__init__")
        text = path.read_text(encoding="utf-8")
        targets += [f"{module}:{name}" for name in _APP_ASSIGNMENT.findall(text)]
    return targets


def load(target: str) -> tuple[ModuleType, App]:
    """Import ``module:attr`` and return the module with its app."""
    name, _, attr = target.partition(":")
    module = importlib.import_module(name)
    app = getattr(module, attr or "app")
    assert isinstance(app, App), f"{target} is not a keel App"
    return module, app
