"""Add and change forms: the form class derived from the columns, saving, the field-by-field
diff for the audit log, and the check that nobody changed the object meanwhile."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from keel.admin._meta import ColumnMeta, ModelMeta, object_label, text_value
from keel.db.errors import classify_integrity_error
from keel.db.schema._columns import derive
from keel.forms import BoundForm, Form, Textarea, form

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from keel.admin.options import _Options
    from keel.requests import Request

__all__ = ["FormPlan", "Conflict", "snapshot"]

ORIGINAL_FIELD = "_original"


@dataclass
class Fieldset:
    title: str | None
    fields: list[str]
    description: str | None = None
    classes: str = ""


@dataclass
class FormPlan:
    """The form of a model admin or inline (built once)."""

    meta: ModelMeta
    form_class: type[Form]
    editable: list[str]
    readonly: list[str]
    fieldsets: list[Fieldset]
    autocomplete: set[str]
    threshold: int
    prepopulated: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        options: _Options[Any],
        meta: ModelMeta,
        *,
        skip: Sequence[str] = (),
        fieldsets: Sequence[tuple[str | None, dict[str, Any]]] | None = None,
        threshold: int = 100,
        prepopulated: Mapping[str, Sequence[str]] | None = None,
    ) -> FormPlan:
        owner = type(options).__name__ if not isinstance(options, type) else options.__name__
        model = meta.model
        creatable = set(
            derive(
                model,
                mode="create",
                include=None,
                exclude=(),
                partial=False,
                constraints={},
                owner=owner,
            )
        )
        wanted: list[str]
        if fieldsets:
            wanted = [name for _, opts in fieldsets for name in opts.get("fields", ())]
        elif options.fields is not None:
            wanted = list(options.fields)
        else:
            wanted = [k for k, m in meta.columns.items() if k in creatable and m.kind != "json"]
        for name in (
            *wanted,
            *options.readonly_fields,
            *options.exclude,
            *options.autocomplete_fields,
        ):
            if name not in meta.columns and not callable(getattr(options, name, None)):
                raise ValueError(f"{owner}: {model.__name__} has no column {name!r}")
        readonly = list(options.readonly_fields)
        editable = []
        for name in wanted:
            if name in options.exclude or name in skip:
                continue
            if name in readonly:
                continue
            if name not in creatable or meta.columns[name].kind == "json":
                readonly.append(name)  # set by the server: shown, never posted
                continue
            editable.append(name)
        if not fieldsets:
            shown = [n for n in wanted if n not in options.exclude and n not in skip]
            shown += [n for n in readonly if n not in shown]
            sets = [Fieldset(None, shown)]
        else:
            sets = [
                Fieldset(
                    title,
                    [n for n in opts.get("fields", ()) if n not in skip],
                    opts.get("description"),
                    " ".join(opts.get("classes", ())),
                )
                for title, opts in fieldsets
            ]
        form_class = form(model, fields=editable, name=f"{model.__name__}AdminForm")
        for name in editable:  # labels from the columns; long text in a textarea
            info = form_class.model_fields[name]
            column = meta.columns[name]
            info.title = column.label
            if column.kind == "longtext":
                info.metadata.append(Textarea(rows=6))
        return cls(
            meta=meta,
            form_class=form_class,
            editable=editable,
            readonly=readonly,
            fieldsets=sets,
            autocomplete=set(options.autocomplete_fields),
            threshold=threshold,
            prepopulated={k: list(v) for k, v in (prepopulated or {}).items()},
        )

    def fk_fields(self) -> list[ColumnMeta]:
        return [self.meta.columns[n] for n in self.editable if self.meta.columns[n].kind == "fk"]

    async def choices(
        self, session: AsyncSession
    ) -> tuple[dict[str, list[tuple[Any, str]]], set[str]]:
        """Options of the foreign-key selects; the keys that are autocompletes instead
        (configured, or whose target has more rows than the threshold)."""
        found: dict[str, list[tuple[Any, str]]] = {}
        searching = set(self.autocomplete)
        for meta in self.fk_fields():
            if meta.key in searching or meta.fk_target is None:
                continue
            target_pk = next(iter(meta.column.foreign_keys)).column
            rows = list(
                await session.scalars(
                    select(meta.fk_target).order_by(target_pk).limit(self.threshold + 1)
                )
            )
            if len(rows) > self.threshold:
                searching.add(meta.key)
                continue
            options: list[tuple[Any, str]] = [] if not meta.nullable else [("", "—")]
            options += [(getattr(r, target_pk.key), object_label(r)) for r in rows]
            found[meta.key] = options
        return found, searching

    async def check_references(self, session: AsyncSession, bound: BoundForm[Any]) -> None:
        """Foreign keys must name an existing row (one lookup per foreign key)."""
        for meta in self.fk_fields():
            if meta.fk_target is None or bound.errors.get(meta.key):
                continue
            raw = bound[meta.key].value
            if raw in (None, ""):
                continue
            target_meta = next(iter(meta.column.foreign_keys)).column
            value: Any = str(raw)
            if _python_type_is_int(target_meta):
                if not value.lstrip("-").isdigit() or len(value) > 19:
                    continue  # the form's own validation reports it
                value = int(value)
            if await session.get(meta.fk_target, value) is None:
                bound.add_error(meta.key, f"There is no {meta.fk_target.__name__} {str(raw)[:40]}.")

    async def labels(
        self, session: AsyncSession, obj: Any, bound: BoundForm[Any] | None
    ) -> dict[str, str]:
        """The names of the rows the autocomplete fields point at."""
        out = {}
        for meta in self.fk_fields():
            value = bound[meta.key].value if bound is not None else getattr(obj, meta.key, None)
            if value in (None, "") or meta.fk_target is None:
                continue
            try:
                row = await session.get(
                    meta.fk_target, int(value) if str(value).isdigit() else value
                )
            except Exception:  # noqa: BLE001 - a malformed id names nothing
                row = None
            if row is not None:
                out[meta.key] = object_label(row)
        return out


def _python_type_is_int(column: Any) -> bool:
    try:
        return bool(column.type.python_type is int)
    except NotImplementedError:
        return False


def initial_of(plan: FormPlan, obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in plan.editable}


def snapshot(meta: ModelMeta, obj: Any) -> dict[str, str | None]:
    """Every column's value as text: what the form was opened on."""
    return {key: text_value(obj.__dict__.get(key)) for key in meta.columns}


def snapshot_field(meta: ModelMeta, obj: Any) -> Markup:
    value = json.dumps(snapshot(meta, obj), sort_keys=True)
    return Markup('<input type="hidden" name="{}" value="{}">').format(ORIGINAL_FIELD, value)


@dataclass
class Conflict:
    """A field someone else changed since the form was opened."""

    field: str
    label: str
    was: str | None
    now: str | None


def conflicts(meta: ModelMeta, obj: Any, original: str | None) -> list[Conflict] | None:
    """What changed since the form was opened (``None``: the form carried no snapshot)."""
    if original is None:
        return None
    try:
        seen = json.loads(original)
    except ValueError:
        return None
    if not isinstance(seen, dict):
        return None
    current = snapshot(meta, obj)
    found = []
    for key, value in current.items():
        if key in seen and seen[key] != value:
            found.append(Conflict(key, meta.columns[key].label, seen[key], value))
    return found


def apply(plan: FormPlan, obj: Any, data: Any) -> list[dict[str, str | None]]:
    """Set the form's values on ``obj``; the changes as ``{"field", "old", "new"}``."""
    changes = []
    for name in plan.editable:
        old = getattr(obj, name, None) if _loaded(obj, name) else None
        new = getattr(data, name)
        if old != new or not _loaded(obj, name):
            setattr(obj, name, new)
            if text_value(old) != text_value(new):
                changes.append({"field": name, "old": text_value(old), "new": text_value(new)})
    return changes


def _loaded(obj: Any, name: str) -> bool:
    return name in obj.__dict__


async def save_or_explain(
    session: AsyncSession,
    bound: BoundForm[Any],
    plan: FormPlan,
    work: Callable[[], Awaitable[None]],
) -> bool:
    """Run ``work`` (which changes objects) and flush, in a savepoint; a constraint the
    database refuses rolls it all back and becomes a form error."""
    await session.flush()  # nothing of before may fail inside the savepoint
    try:
        async with session.begin_nested():
            await work()
            await session.flush()
    except IntegrityError as exc:
        violation = classify_integrity_error(exc, plan.meta.model.metadata)
        fields = [f for f in violation.fields if f in plan.editable]
        if violation.kind == "unique":
            name = plan.meta.verbose_name
            message = (
                f"{'An' if name[:1] in 'aeiou' else 'A'} {name} with this value already exists."
            )
        elif violation.kind == "foreign_key":
            message = "This refers to something that does not exist."
        elif violation.kind == "not_null":
            message = "This field is required."
        else:
            message = "The database refused the values (a rule of the table)."
        if fields:
            for name in fields:
                bound.add_error(name, message)
        else:
            bound.add_error(None, message)
        return False
    return True


def describe(obj: Any) -> str:
    return object_label(obj)[:200]


async def request_form(request: Request) -> Any:
    return await request.form()
