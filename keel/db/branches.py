"""Migration branches that batteries ship beside the app's own migrations.

A battery with tables (``keel.auth``) keeps its migration scripts inside its package, on an
Alembic branch of its own (``keel_auth``). When the app's metadata holds the battery's
tables, ``keel db`` reads those scripts beside the project's ``migrations/versions/``:
``keel db migrate`` applies both histories, and the app's new scripts depend on the
battery's heads, so its foreign keys to the battery's tables always find them created.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy import MetaData

__all__ = ["Branch", "branches_for", "register_branch"]


@dataclass(frozen=True)
class Branch:
    """A battery's migration scripts.

    Attributes:
        label: the Alembic branch label of its scripts (``keel_auth``).
        folder: the folder that holds the scripts.
        tables: the tables the scripts create; the branch applies to a database whose
            metadata holds any of them.
    """

    label: str
    folder: Path
    tables: frozenset[str]


_BRANCHES: dict[str, Branch] = {}


def register_branch(label: str, folder: Path, tables: set[str] | frozenset[str]) -> Branch:
    """Ship ``folder``'s migration scripts (branch ``label``) for the battery's ``tables``.

    Registering the same label again replaces it in place (a module reloaded in tests).
    """
    branch = Branch(label, Path(folder), frozenset(tables))
    _BRANCHES[label] = branch  # an existing label keeps its place in the order
    return branch


def branches_for(
    metadata: MetaData, *, ordered: Literal["label", "registration"] = "label"
) -> list[Branch]:
    """The registered branches whose tables ``metadata`` holds, by label (or in the order
    they were registered: a battery registers after the batteries it builds on)."""
    names = set(metadata.tables)
    found = _BRANCHES.items() if ordered == "registration" else sorted(_BRANCHES.items())
    return [b for _, b in found if b.tables & names]
