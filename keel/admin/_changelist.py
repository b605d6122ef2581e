"""The change list's query: search, filters, sorting, date drill-down and pagination.

Every key of the query string is checked against the model admin's configuration (an
unknown one is a 400), and a page costs a fixed number of statements whatever its number:
the count, the primary keys of the page (an index-only scan where an index exists), the
rows of those keys with their many-to-one relationships, and for a date hierarchy the
first and last date.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import selectinload

from keel.admin._meta import ColumnMeta, ModelMeta
from keel.errors import HTTPError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from keel.admin.options import ModelAdmin

__all__ = ["ChangeList", "build_changelist"]

RESERVED = ("q", "o", "p")
MAX_SEARCH = 200
MAX_TERMS = 10
MAX_PER_PAGE = 500
FK_FILTER_CHOICES = 100
DATE_FILTERS = (
    ("today", "Today"),
    ("7d", "Past 7 days"),
    ("month", "This month"),
    ("year", "This year"),
)


def bad_request(detail: str) -> HTTPError:
    return HTTPError(400, detail)


@dataclass
class Column:
    """A column of the change list."""

    key: str
    label: str
    sort_key: str | None
    meta: ColumnMeta | None = None
    method: Any = None
    relationship: str | None = None
    link: bool = False
    sorted: str | None = None  # "asc", "desc"
    sort_position: int = 0
    toggle_url: str = ""
    remove_url: str = ""


@dataclass
class FilterChoice:
    label: str
    url: str
    selected: bool


@dataclass
class Filter:
    key: str
    label: str
    choices: list[FilterChoice] = field(default_factory=list)
    autocomplete: str | None = None  # the autocomplete URL for large foreign keys
    selected_label: str | None = None
    hidden: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class ChangeList:
    """One page of the change list, with everything the template shows."""

    rows: list[Any]
    count: int
    total: int | None
    page: int
    pages: int
    per_page: int
    columns: list[Column]
    filters: list[Filter]
    query: str
    params: dict[str, str]
    page_links: list[int | None]
    date_links: list[FilterChoice]
    date_back: FilterChoice | None

    def url(self, **changes: Any) -> str:
        return url_with(self.params, **changes)


def url_with(params: Mapping[str, str], **changes: Any) -> str:
    """The change list's query string with ``changes`` (``None`` removes a key; page 1
    is the page without ``p``)."""
    merged = dict(params)
    for key, value in changes.items():
        if value is None or (key == "p" and str(value) == "1"):
            merged.pop(key, None)
        else:
            merged[key] = str(value)
    return "?" + urlencode(merged) if merged else "?"


class _Plan:
    """What the admin worked out from a ModelAdmin for its change list (built once)."""

    def __init__(self, admin: ModelAdmin[Any], meta: ModelMeta) -> None:
        self.meta = meta
        model = meta.model
        self.columns: list[Column] = []
        display = list(admin.list_display) or ["__str__"]
        for entry in display:
            self.columns.append(_column(admin, meta, entry))
        links = admin.list_display_links
        for i, column in enumerate(self.columns):
            column.link = column.key in links if links is not None else i == 0
        self.sortable = {c.key: c.sort_key for c in self.columns if c.sort_key}
        for key in meta.columns:
            self.sortable.setdefault(key, key)
        self.relationships = [c.relationship for c in self.columns if c.relationship]
        self.filters: dict[str, ColumnMeta] = {}
        for name in admin.list_filter:
            column_meta = meta.columns.get(name) or meta.many_to_one.get(name)
            if column_meta is None:
                raise ValueError(
                    f"{type(admin).__name__}.list_filter: {model.__name__} has no column {name!r}"
                )
            self.filters[column_meta.key] = column_meta
        self.search: list[Any] = []
        for name in admin.search_fields:
            self.search.append(_search_target(meta, name, type(admin).__name__))
        self.ordering = [_order_key(meta, key, type(admin).__name__) for key in admin.ordering]
        self.date: ColumnMeta | None = None
        if admin.date_hierarchy:
            self.date = meta.columns.get(admin.date_hierarchy)
            if self.date is None or self.date.kind not in ("date", "datetime"):
                raise ValueError(
                    f"{type(admin).__name__}.date_hierarchy: {admin.date_hierarchy!r} "
                    "is not a date column"
                )
        self.per_page = max(1, min(int(admin.list_per_page), MAX_PER_PAGE))
        self.allowed = set(RESERVED) | set(self.filters)
        if self.date is not None:
            self.allowed |= {f"{self.date.key}__{part}" for part in ("year", "month", "day")}


def _column(admin: ModelAdmin[Any], meta: ModelMeta, entry: Any) -> Column:
    owner = type(admin).__name__
    if entry == "__str__":
        return Column("__str__", meta.verbose_name.capitalize(), None)
    if callable(entry) or (isinstance(entry, str) and callable(getattr(admin, entry, None))):
        method = getattr(admin, entry) if isinstance(entry, str) else entry.__get__(admin)
        fn = getattr(method, "__func__", method)
        order = getattr(fn, "admin_order_field", None)
        name = fn.__name__
        label = getattr(fn, "short_description", name.replace("_", " ").capitalize())
        return Column(name, label, _order_key(meta, order, owner) if order else None, method=method)
    if entry in meta.columns:
        column_meta = meta.columns[entry]
        return Column(entry, column_meta.label, entry, meta=column_meta)
    if entry in meta.many_to_one:
        column_meta = meta.many_to_one[entry]
        label = entry.replace("_", " ").capitalize()
        return Column(entry, label, column_meta.key, meta=column_meta, relationship=entry)
    raise ValueError(
        f"{owner}.list_display: {meta.model.__name__} has no column, relationship or "
        f"method {entry!r}"
    )


def _order_key(meta: ModelMeta, key: str, owner: str) -> str:
    bare = key.lstrip("-")
    if bare in meta.columns:
        return key
    if "__" in bare:
        rel, _, col = bare.partition("__")
        target = meta.many_to_one.get(rel)
        if target is not None and target.fk_target is not None and hasattr(target.fk_target, col):
            return key
    raise ValueError(f"{owner}: cannot sort {meta.model.__name__} by {key!r}")


def _search_target(meta: ModelMeta, name: str, owner: str) -> Any:
    if name in meta.columns:
        return getattr(meta.model, name)
    rel, _, col = name.partition("__")
    target = meta.many_to_one.get(rel)
    if target is None or target.fk_target is None or not hasattr(target.fk_target, col):
        raise ValueError(f"{owner}.search_fields: {meta.model.__name__} has no field {name!r}")
    return (getattr(meta.model, target.key), target.fk_target, getattr(target.fk_target, col))


def plan_of(admin: ModelAdmin[Any], meta: ModelMeta) -> _Plan:
    return _Plan(admin, meta)


def _sort_expression(meta: ModelMeta, key: str) -> tuple[Any, Any]:
    """(order expression, relationship to join or None)."""
    descending = key.startswith("-")
    bare = key.lstrip("-")
    join = None
    if "__" in bare:
        rel, _, col = bare.partition("__")
        target = meta.many_to_one[rel]
        join = getattr(meta.model, rel)
        expression: Any = getattr(target.fk_target, col)
    else:
        expression = getattr(meta.model, bare)
    return (expression.desc() if descending else expression.asc()), join


def _parse_filter(meta: ColumnMeta, raw: str) -> Any:
    """The condition for filter value ``raw`` of column ``meta`` (400 when malformed)."""
    column = meta.column
    if raw == "none" and meta.nullable:
        return column.is_(None)
    if meta.kind == "bool":
        if raw not in ("1", "0"):
            raise bad_request(f"The filter {meta.key} takes 1 or 0, not {raw[:40]!r}.")
        return column.is_(raw == "1")
    if meta.kind == "enum":
        values = [value for value, _ in meta.choices]
        if raw not in values:
            raise bad_request(f"The filter {meta.key} takes one of {', '.join(values)}.")
        enum_class = getattr(column.type, "enum_class", None)
        return column == (enum_class(raw) if enum_class is not None else raw)
    if meta.kind in ("date", "datetime"):
        start = _date_range_start(raw)
        if start is None:
            raise bad_request(f"The filter {meta.key} takes one of today, 7d, month, year.")
        return column >= (start if meta.kind == "datetime" else start.date())
    if meta.kind in ("fk", "int"):
        if not raw.lstrip("-").isdigit() or len(raw) > 19:
            raise bad_request(f"The filter {meta.key} takes an integer.")
        return column == int(raw)
    if len(raw) > 255:
        raise bad_request(f"The filter value of {meta.key} is too long.")
    return column == raw


def _date_range_start(raw: str) -> dt.datetime | None:
    now = dt.datetime.now(dt.UTC)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return {
        "today": today,
        "7d": today - dt.timedelta(days=6),
        "month": today.replace(day=1),
        "year": today.replace(month=1, day=1),
    }.get(raw)


def _int_param(params: Mapping[str, str], key: str, low: int, high: int) -> int | None:
    raw = params.get(key)
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or not low <= int(raw[:6]) <= high:
        raise bad_request(f"{key} must be a number from {low} to {high}.")
    return int(raw)


def check_params(plan: _Plan, pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    """The query string as a dict; unknown or repeated keys are a 400."""
    params: dict[str, str] = {}
    for key, value in pairs:
        if key not in plan.allowed:
            raise bad_request(f"Unknown change list parameter {key[:40]!r}.")
        if key in params:
            raise bad_request(f"The parameter {key[:40]!r} is given twice.")
        params[key] = value
    return params


async def build_changelist(
    session: AsyncSession, plan: _Plan, pairs: Sequence[tuple[str, str]]
) -> ChangeList:
    """Run the change list's statements for the query string ``pairs``."""
    meta, model = plan.meta, plan.meta.model
    params = check_params(plan, pairs)
    conditions: list[ColumnElement[bool]] = []
    for key, column_meta in plan.filters.items():
        if key in params:
            conditions.append(_parse_filter(column_meta, params[key]))
    query = params.get("q", "").strip()
    if len(query) > MAX_SEARCH:
        raise bad_request(f"The search is longer than {MAX_SEARCH} characters.")
    if query and plan.search:
        sqlite = session.get_bind().dialect.name == "sqlite"
        for term in query.split()[:MAX_TERMS]:
            conditions.append(or_(*(_matches(target, term, sqlite) for target in plan.search)))
    date_conditions, drill = _date_drill(plan, params)
    where = and_(*conditions, *date_conditions) if conditions or date_conditions else None

    order_keys = _ordering(plan, params)
    pk = getattr(model, meta.pk.key)
    ids_query: Select[Any] = select(pk)
    joined: set[Any] = set()
    order_by = []
    for key in order_keys:
        expression, join = _sort_expression(meta, key)
        if join is not None and join not in joined:
            ids_query = ids_query.outerjoin(join)
            joined.add(join)
        order_by.append(expression)
    if not any(k.lstrip("-") == meta.pk.key for k in order_keys):
        # the tie-breaker runs the way the last key does, so an index on that column
        # (which ends with the primary key) gives the order without sorting the table
        order_by.append(pk.desc() if order_keys[-1].startswith("-") else pk.asc())
    count_query = select(func.count()).select_from(model)
    if where is not None:
        ids_query = ids_query.where(where)
        count_query = count_query.where(where)
    count = int(await session.scalar(count_query) or 0)
    total = None
    if where is not None:
        total = int(await session.scalar(select(func.count()).select_from(model)) or 0)
    pages = max(1, -(-count // plan.per_page))
    page = _int_param(params, "p", 1, 10**6) or 1
    if page > pages:
        raise HTTPError(404, f"There is no page {page}: the list has {pages}.")
    ids = list(
        await session.scalars(
            ids_query.order_by(*order_by).limit(plan.per_page).offset((page - 1) * plan.per_page)
        )
    )
    rows: list[Any] = []
    if ids:
        load = select(model).where(pk.in_(ids))
        for rel in plan.relationships:
            load = load.options(selectinload(getattr(model, rel)))
        by_id = {getattr(obj, meta.pk.key): obj for obj in await session.scalars(load)}
        rows = [by_id[i] for i in ids if i in by_id]
    date_links, date_back = await _date_links(session, plan, params, conditions, drill)
    columns = _sort_state(plan, params, order_keys)
    filters = await _filters(session, plan, params)
    return ChangeList(
        rows=rows,
        count=count,
        total=total,
        page=page,
        pages=pages,
        per_page=plan.per_page,
        columns=columns,
        filters=filters,
        query=query,
        params=params,
        page_links=_page_links(page, pages),
        date_links=date_links,
        date_back=date_back,
    )


def contains(column: Any, term: str, sqlite: bool) -> ColumnElement[bool]:
    """``column`` contains ``term``, ignoring case: SQLite's ``LIKE`` already ignores the
    case of ASCII letters (no ``lower()`` on every row); elsewhere ``ILIKE``."""
    if sqlite:
        return column.contains(term, autoescape=True)  # type: ignore[no-any-return]
    return column.icontains(term, autoescape=True)  # type: ignore[no-any-return]


def _matches(target: Any, term: str, sqlite: bool) -> ColumnElement[bool]:
    if isinstance(target, tuple):
        fk_column, related, column = target
        related_pk = next(iter(fk_column.property.columns[0].foreign_keys)).column
        inner = select(related_pk).where(contains(column, term, sqlite))
        return fk_column.in_(inner)  # type: ignore[no-any-return]
    return contains(target, term, sqlite)


def _ordering(plan: _Plan, params: Mapping[str, str]) -> list[str]:
    raw = params.get("o")
    if raw is None:
        return list(plan.ordering) or [f"-{plan.meta.pk.key}"]
    keys = []
    for part in raw.split(",")[:5]:
        bare = part.lstrip("-")
        if part.count("-") > 1 or bare not in plan.sortable:
            raise bad_request(f"The change list cannot be sorted by {part[:40]!r}.")
        sort_key = plan.sortable[bare]
        descending = part.startswith("-") != sort_key.startswith("-")
        keys.append(("-" if descending else "") + sort_key.lstrip("-"))
    return keys


def _sort_state(plan: _Plan, params: Mapping[str, str], order_keys: list[str]) -> list[Column]:
    raw = [p for p in params.get("o", "").split(",") if p]
    chosen = [p.lstrip("-") for p in raw]
    columns = []
    for column in plan.columns:
        state = Column(**column.__dict__)
        if column.sort_key:
            if column.key in chosen:
                position = chosen.index(column.key)
                descending = raw[position].startswith("-")
                state.sorted = "desc" if descending else "asc"
                state.sort_position = position + 1
                flipped = ("" if descending else "-") + column.key
                rest = [p for p in raw if p.lstrip("-") != column.key]
                state.toggle_url = url_with(params, o=",".join([flipped, *rest]), p=None)
                state.remove_url = url_with(params, o=",".join(rest) or None, p=None)
            else:
                state.toggle_url = url_with(params, o=",".join([column.key, *raw]), p=None)
        columns.append(state)
    return columns


def _page_links(page: int, pages: int) -> list[int | None]:
    """At most about a dozen links: the ends and the neighbourhood (None is a gap)."""
    wanted = {1, 2, pages - 1, pages, *range(page - 3, page + 4)}
    out: list[int | None] = []
    previous = 0
    for number in sorted(n for n in wanted if 1 <= n <= pages):
        if number - previous > 1:
            out.append(None)
        out.append(number)
        previous = number
    return out


def _date_drill(
    plan: _Plan, params: Mapping[str, str]
) -> tuple[list[Any], tuple[int | None, int | None, int | None]]:
    if plan.date is None:
        return [], (None, None, None)
    key = plan.date.key
    year = _int_param(params, f"{key}__year", 1, 9999)
    month = _int_param(params, f"{key}__month", 1, 12)
    day = _int_param(params, f"{key}__day", 1, 31)
    if (month is not None and year is None) or (day is not None and month is None):
        raise bad_request("A date drill-down needs the year (and the month for a day).")
    if year is None:
        return [], (None, None, None)
    if day is not None and month is not None and day > calendar.monthrange(year, month)[1]:
        raise bad_request(f"{year}-{month:02d} has no day {day}.")
    start, end = _range(year, month, day)
    column = plan.date.column
    if plan.date.kind == "date":
        return [column >= start.date(), column < end.date()], (year, month, day)
    return [column >= start, column < end], (year, month, day)


def _range(year: int, month: int | None, day: int | None) -> tuple[dt.datetime, dt.datetime]:
    if month is None:
        start = dt.datetime(year, 1, 1, tzinfo=dt.UTC)
        return start, start.replace(year=year + 1) if year < 9999 else dt.datetime.max.replace(
            tzinfo=dt.UTC
        )
    if day is None:
        start = dt.datetime(year, month, 1, tzinfo=dt.UTC)
        end = dt.datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=dt.UTC)
        return start, end
    start = dt.datetime(year, month, day, tzinfo=dt.UTC)
    return start, start + dt.timedelta(days=1)


async def _date_links(
    session: AsyncSession,
    plan: _Plan,
    params: Mapping[str, str],
    conditions: list[ColumnElement[bool]],
    drill: tuple[int | None, int | None, int | None],
) -> tuple[list[FilterChoice], FilterChoice | None]:
    """Links one level below the current drill-down, bounded by the first and last date
    (one statement, two index lookups when the column is indexed)."""
    if plan.date is None:
        return [], None
    key, column = plan.date.key, plan.date.column
    year, month, day = drill
    if day is not None:
        up = url_with(params, **{f"{key}__day": None, "p": None})
        return [], FilterChoice(f"{year}-{month:02d}", up, False)
    bounds = []
    if year is not None:
        start, end = _range(year, month, None)
        if plan.date.kind == "date":
            bounds = [column >= start.date(), column < end.date()]
        else:
            bounds = [column >= start, column < end]
    # min and max in two sub-selects: each is one index lookup (one select with both
    # scans the table); the filters and the search are left out for the same reason
    first_last = (
        await session.execute(
            select(
                select(func.min(column)).where(*bounds).scalar_subquery(),
                select(func.max(column)).where(*bounds).scalar_subquery(),
            )
        )
    ).one()
    first, last = first_last
    links: list[FilterChoice] = []
    back = None
    if first is not None and last is not None:
        if isinstance(first, str):  # a date column on SQLite read through func.min
            first, last = dt.date.fromisoformat(first[:10]), dt.date.fromisoformat(last[:10])
        if year is None:
            for y in range(max(first.year, last.year - 29), last.year + 1):
                links.append(
                    FilterChoice(str(y), url_with(params, **{f"{key}__year": y, "p": None}), False)
                )
        elif month is None:
            for m in range(first.month, last.month + 1):
                label = f"{calendar.month_name[m]} {year}"
                links.append(
                    FilterChoice(label, url_with(params, **{f"{key}__month": m, "p": None}), False)
                )
        else:
            for d in range(first.day, last.day + 1):
                links.append(
                    FilterChoice(
                        f"{calendar.month_abbr[month]} {d}",
                        url_with(params, **{f"{key}__day": d, "p": None}),
                        False,
                    )
                )
    if month is not None:
        back = FilterChoice(
            str(year), url_with(params, **{f"{key}__month": None, "p": None}), False
        )
    elif year is not None:
        back = FilterChoice(
            "All dates", url_with(params, **{f"{key}__year": None, "p": None}), False
        )
    return links, back


async def _filters(session: AsyncSession, plan: _Plan, params: Mapping[str, str]) -> list[Filter]:
    found = []
    for key, meta in plan.filters.items():
        current = params.get(key)
        label = meta.fk_relationship or meta.label
        item = Filter(key, label.replace("_", " ").capitalize())
        item.choices.append(
            FilterChoice("All", url_with(params, **{key: None, "p": None}), current is None)
        )
        options: list[tuple[str, str]] = []
        if meta.kind == "bool":
            options = [("1", "Yes"), ("0", "No")]
        elif meta.kind == "enum":
            options = list(meta.choices)
        elif meta.kind in ("date", "datetime"):
            options = list(DATE_FILTERS)
        elif meta.kind == "fk" and meta.fk_target is not None:
            options, item.autocomplete = await _fk_options(session, meta, current)
        else:
            options = [(str(v), str(v)) for v in await _distinct(session, meta)]
        if meta.nullable and meta.kind != "bool":
            options.append(("none", "None"))
        for value, text in options:
            item.choices.append(
                FilterChoice(text, url_with(params, **{key: value, "p": None}), current == value)
            )
        if item.autocomplete is not None:
            item.hidden = [(k, v) for k, v in params.items() if k not in (key, "p")]
            if current is not None:
                item.selected_label = next((t for v, t in options if v == current), current)
        found.append(item)
    return found


async def _distinct(session: AsyncSession, meta: ColumnMeta, limit: int = 50) -> list[Any]:
    """The first ``limit`` distinct values of a column. With an index, a recursive query
    hops from each value to the next (one index lookup per value) instead of reading the
    whole index."""
    column = meta.column
    indexed = any(index.columns.keys()[:1] == [column.key] for index in column.table.indexes)
    if not indexed:
        statement = (
            select(column).where(column.is_not(None)).distinct().order_by(column).limit(limit)
        )
        return list(await session.scalars(statement))
    hops = select(func.min(column).label("value")).cte("hops", recursive=True)
    following = select(func.min(column)).where(column > hops.c.value).scalar_subquery()
    hops = hops.union_all(select(following).where(hops.c.value.is_not(None)))
    statement = select(hops.c.value).where(hops.c.value.is_not(None)).limit(limit)
    return list(await session.scalars(statement))


async def _fk_options(
    session: AsyncSession, meta: ColumnMeta, current: str | None
) -> tuple[list[tuple[str, str]], str | None]:
    from keel.admin._meta import object_label

    target = meta.fk_target
    assert target is not None
    target_pk = next(iter(meta.column.foreign_keys)).column
    rows = list(
        await session.scalars(select(target).order_by(target_pk).limit(FK_FILTER_CHOICES + 1))
    )
    pk_key = target_pk.key
    if len(rows) <= FK_FILTER_CHOICES:
        return [(str(getattr(r, pk_key)), object_label(r)) for r in rows], None
    options: list[tuple[str, str]] = []
    if current is not None and current.isdigit() and len(current) < 19:
        chosen = await session.get(target, int(current))
        if chosen is not None:
            options.append((current, object_label(chosen)))
    return options, "autocomplete"
