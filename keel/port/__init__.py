"""``keel port``: move a FastAPI project to keel (imports and FastAPI-only spellings).

The codemod needs libcst, from the ``keel[port]`` extra::

    pip install 'keel[port]'
    keel port fastapi src/ --diff
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from keel.port._codemod import FileResult, port_source

__all__ = ["FileResult", "port_source", "require_libcst"]


def require_libcst() -> None:
    """Raise ImportError naming the ``keel[port]`` extra when libcst is not installed."""
    try:
        import libcst  # noqa: F401
    except ImportError:
        raise ImportError(
            "keel port needs libcst, from the keel[port] extra: pip install 'keel[port]'"
        ) from None


def __getattr__(name: str) -> Any:
    if name in ("FileResult", "port_source"):
        require_libcst()
        from keel.port import _codemod

        return getattr(_codemod, name)
    raise AttributeError(f"module 'keel.port' has no attribute {name!r}")
