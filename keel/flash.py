"""Flash messages: a note for the next page the visitor sees ("Saved."), kept in the session.

``flash(request, "Saved", "success")`` in the handler that redirects; the next page shows
``get_flashed_messages(request)`` (in templates: ``get_flashed_messages()``), which also
removes them, so each message is shown once.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Literal, overload

if TYPE_CHECKING:
    from keel.requests import Request

__all__ = ["flash", "get_flashed_messages"]

_KEY = "_flashes"
_MAX_MESSAGES = 50  # a loop that flashes on every request cannot grow the cookie forever


def flash(request: Request, message: str, category: str = "info") -> None:
    """Keep ``message`` (under ``category``: ``"info"``, ``"success"``, ``"error"``…) for
    the next page that shows messages."""
    queue = [item for item in request.session.get(_KEY, []) if isinstance(item, list)]
    queue.append([str(category), str(message)])
    request.session[_KEY] = queue[-_MAX_MESSAGES:]


@overload
def get_flashed_messages(
    request: Request,
    *,
    with_categories: Literal[False] = False,
    category_filter: Collection[str] = (),
) -> list[str]: ...


@overload
def get_flashed_messages(
    request: Request,
    *,
    with_categories: Literal[True],
    category_filter: Collection[str] = (),
) -> list[tuple[str, str]]: ...


def get_flashed_messages(
    request: Request,
    *,
    with_categories: bool = False,
    category_filter: Collection[str] = (),
) -> list[str] | list[tuple[str, str]]:
    """The waiting messages, oldest first, removed from the session (shown once).

    With ``category_filter`` only those categories are returned (and removed); with
    ``with_categories`` each is a ``(category, message)`` pair.
    """
    session = request.session
    stored = session.get(_KEY)
    if not stored:
        return []
    queue = [(str(item[0]), str(item[1])) for item in stored if isinstance(item, list)]
    taken = [m for m in queue if not category_filter or m[0] in category_filter]
    kept = [m for m in queue if m not in taken]
    if kept:
        session[_KEY] = [list(m) for m in kept]
    else:
        del session[_KEY]
    if with_categories:
        return taken
    return [message for _, message in taken]
