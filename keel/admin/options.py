"""How one model is shown in the admin: :class:`ModelAdmin` and its options."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar, get_args

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from keel.requests import Request

__all__ = [
    "Action",
    "InlineModelAdmin",
    "ModelAdmin",
    "StackedInline",
    "TabularInline",
    "action",
    "display",
]

M = TypeVar("M")
_Permission = Literal["view", "add", "change", "delete"]
_ActionFunction = Callable[..., Awaitable[str | None]]


@dataclass(frozen=True)
class Action:
    """A bulk action of the change list.

    Attributes:
        name: Its key in the form (the method's name).
        description: What the action menu shows.
        permission: The model permission the user needs to run it.
        function: ``async (model_admin, request, session, objects) -> message | None``.
    """

    name: str
    description: str
    permission: _Permission
    function: _ActionFunction


def action(
    *, description: str | None = None, permission: _Permission = "change"
) -> Callable[[_ActionFunction], _ActionFunction]:
    """Mark a ``ModelAdmin`` method as a bulk action (name it in ``actions``).

    The method is ``async def publish(self, request, session, objects) -> str | None``;
    the string it returns is shown to the user.
    """

    def mark(fn: _ActionFunction) -> _ActionFunction:
        fn.admin_action = Action(  # type: ignore[attr-defined]
            fn.__name__,
            description or fn.__name__.replace("_", " ").capitalize(),
            permission,
            fn,
        )
        return fn

    return mark


def display(
    *, description: str | None = None, ordering: str | None = None
) -> Callable[[Callable[[Any, Any], Any]], Callable[[Any, Any], Any]]:
    """Describe a ``ModelAdmin`` method used in ``list_display``: its column heading and
    the column it sorts by (none: not sortable)."""

    def mark(fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        fn.short_description = description or fn.__name__.replace("_", " ").capitalize()  # type: ignore[attr-defined]
        fn.admin_order_field = ordering  # type: ignore[attr-defined]
        return fn

    return mark


class _Options(Generic[M]):
    """Options shared by model admins and inlines."""

    model: ClassVar[type[Any] | None] = None
    fields: ClassVar[Sequence[str] | None] = None
    """The form's fields in order (default: every editable column)."""
    exclude: ClassVar[Sequence[str]] = ()
    """Columns left out of the form."""
    readonly_fields: ClassVar[Sequence[str]] = ()
    """Columns shown on the form but not editable."""
    autocomplete_fields: ClassVar[Sequence[str]] = ()
    """Foreign keys chosen by searching rather than from a list (large target tables)."""

    @classmethod
    def model_class(cls) -> type[Any] | None:
        """The model: ``model = X`` or the parameter of ``ModelAdmin[X]``."""
        if cls.model is not None:
            return cls.model
        for klass in cls.__mro__:
            for base in getattr(klass, "__orig_bases__", ()):
                args = get_args(base)
                if args and isinstance(args[0], type):
                    return args[0]
        return None


class InlineModelAdmin(_Options[M]):
    """Child rows (one-to-many) edited on their parent's change page.

    Attributes:
        fk_name: The child's foreign key to the parent (found alone when there is one).
        extra: How many empty rows are offered for new children.
        max_num: At most this many children are shown (the rest stay untouched).
        verbose_name_plural: The heading (default: the child model's name).
    """

    fk_name: ClassVar[str | None] = None
    extra: ClassVar[int] = 1
    max_num: ClassVar[int] = 100
    verbose_name_plural: ClassVar[str | None] = None
    template: ClassVar[str] = "admin/inline_tabular.html"


class TabularInline(InlineModelAdmin[M]):
    """Children as rows of a table (one line each)."""


class StackedInline(InlineModelAdmin[M]):
    """Children as blocks of fields, one under another."""

    template: ClassVar[str] = "admin/inline_stacked.html"


class ModelAdmin(_Options[M]):
    """The admin of one model; subclass it to change what the pages show.

    Example:
        class ArticleAdmin(ModelAdmin[Article]):
            list_display = ["title", "author", "status", "published_at"]
            list_filter = ["status", "author_id"]
            search_fields = ["title", "author__name"]
            date_hierarchy = "published_at"

        admin.register(Article, ArticleAdmin)
    """

    list_display: ClassVar[Sequence[str | Callable[..., Any]]] = ()
    """Columns of the change list: column or many-to-one relationship names, or methods
    (see :func:`display`). Default: the object itself."""
    list_display_links: ClassVar[Sequence[str] | None] = None
    """The columns that link to the change form (default: the first)."""
    list_filter: ClassVar[Sequence[str]] = ()
    """Columns offered as filters in the sidebar (booleans, choices, foreign keys, dates)."""
    search_fields: ClassVar[Sequence[str]] = ()
    """Text columns the search box looks in (``author__name`` follows a foreign key)."""
    ordering: ClassVar[Sequence[str]] = ()
    """The default order (``"-published_at"``); the primary key, descending, otherwise."""
    list_per_page: ClassVar[int] = 100
    """Rows per change list page (at most 500)."""
    fieldsets: ClassVar[Sequence[tuple[str | None, dict[str, Any]]] | None] = None
    """``[(title, {"fields": [...], "description": "..."}), ...]``: groups on the form."""
    actions: ClassVar[Sequence[str | _ActionFunction]] = ()
    """Bulk actions besides "delete selected": methods marked with :func:`action`."""
    inlines: ClassVar[Sequence[type[InlineModelAdmin[Any]]]] = ()
    """Child models edited on this model's page."""
    prepopulated_fields: ClassVar[dict[str, Sequence[str]]] = {}
    """``{"slug": ["title"]}``: filled in from other fields as they are typed."""
    date_hierarchy: ClassVar[str | None] = None
    """A date column: year, month and day links above the change list."""
    url_fields: ClassVar[Sequence[str]] = ()
    """Columns shown as links (http and https URLs only); columns named ``url``,
    ``*_url`` or ``website`` are links without being listed."""
    verbose_name: ClassVar[str | None] = None
    verbose_name_plural: ClassVar[str | None] = None
    autocomplete_threshold: ClassVar[int] = 100
    """A foreign key whose target has more rows than this is an autocomplete, not a list."""

    def __init__(self, model: type[M], site: Any) -> None:
        self.model = model  # type: ignore[misc]
        self.site = site

    def __str__(self) -> str:
        return f"{type(self).__name__}({self.model.__name__})"  # type: ignore[union-attr]

    async def save_model(
        self, request: Request, session: AsyncSession, obj: M, change: bool
    ) -> None:
        """Called before an added or changed object is flushed; override to add to it."""
