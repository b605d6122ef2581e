"""How a form field is shown: the widget chosen from its type, and its HTML."""

from __future__ import annotations

import datetime
import decimal
import enum
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from markupsafe import Markup, escape
from pydantic import SecretStr
from pydantic.fields import FieldInfo

__all__ = [
    "Hidden",
    "Input",
    "Password",
    "Select",
    "Textarea",
    "Widget",
    "infer_widget",
]

Choices = Sequence[tuple[Any, str]]


@dataclass(frozen=True)
class Widget:
    """The base of the widget markers put in a field's ``Annotated`` metadata.

    Attributes:
        attrs: Extra HTML attributes (``{"placeholder": "you@example.com"}``).
    """

    attrs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Input(Widget):
    """An ``<input>`` of the given ``type`` (``"color"``, ``"tel"``, ``"search"``…)."""

    type: str = "text"


@dataclass(frozen=True)
class Textarea(Widget):
    """A ``<textarea>`` with ``rows`` lines."""

    rows: int = 5


@dataclass(frozen=True)
class Password(Widget):
    """A password input; the submitted value is never shown again."""


@dataclass(frozen=True)
class Hidden(Widget):
    """A hidden input (no label)."""


@dataclass(frozen=True)
class Select(Widget):
    """A ``<select>`` over ``choices`` (``[(value, label), ...]``); ``multiple`` for lists."""

    choices: Choices = ()
    multiple: bool = False


@dataclass(frozen=True)
class Spec:
    """What a field is, for parsing and rendering (derived once per form class)."""

    kind: Literal["input", "textarea", "select", "checkbox", "file"]
    input_type: str = "text"
    multiple: bool = False
    choices: Choices = ()
    attrs: dict[str, str] = field(default_factory=dict)
    hidden: bool = False
    password: bool = False
    rows: int = 5


_TEXTAREA_FROM = 500  # a str with a larger max_length is edited in a textarea


def _unwrap(annotation: Any) -> tuple[Any, list[Any], bool]:
    """``(type, metadata, optional)`` with ``Annotated`` and ``X | None`` peeled off."""
    metadata: list[Any] = []
    optional = False
    while True:
        origin = get_origin(annotation)
        if origin is typing.Annotated:
            args = get_args(annotation)
            annotation, metadata = args[0], [*metadata, *args[1:]]
        elif origin in (Union, types.UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            optional = optional or len(members) < len(get_args(annotation))
            if len(members) != 1:
                return annotation, metadata, optional
            annotation = members[0]
        else:
            return annotation, metadata, optional


def _choices_of(tp: Any) -> Choices | None:
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return [(member.value, _label_of_member(member)) for member in tp]
    if get_origin(tp) is Literal:
        return [(value, str(value)) for value in get_args(tp)]
    return None


def _label_of_member(member: enum.Enum) -> str:
    value = member.value
    if isinstance(value, str) and value:
        return value.replace("_", " ").capitalize() if value.islower() else value
    return member.name.replace("_", " ").capitalize()


def _is_upload(tp: Any) -> bool:
    return isinstance(tp, type) and tp.__name__ == "UploadFile"


def infer_widget(info: FieldInfo) -> Spec:
    """The widget of a pydantic field: from its markers, else from its type."""
    tp, metadata, _ = _unwrap(info.annotation)
    metadata = [*info.metadata, *metadata]
    marker = next((m for m in metadata if isinstance(m, Widget)), None)
    attrs = dict(marker.attrs) if marker else {}
    for item in metadata:
        for name, attr in (("min_length", "minlength"), ("max_length", "maxlength")):
            if getattr(item, name, None) is not None and isinstance(
                item, annotated_types.MinLen | annotated_types.MaxLen
            ):
                attrs[attr] = str(getattr(item, name))
        for name, attr in (("ge", "min"), ("le", "max")):
            value = getattr(item, name, None)
            if value is not None and isinstance(item, annotated_types.Ge | annotated_types.Le):
                attrs[attr] = str(value)
    origin = get_origin(tp)
    is_list = origin in (list, set, frozenset, tuple)
    inner = get_args(tp)[0] if is_list and get_args(tp) else tp
    if isinstance(marker, Hidden):
        return Spec("input", "hidden", attrs=attrs, hidden=True)
    if isinstance(marker, Password):
        return Spec("input", "password", attrs=attrs, password=True)
    if isinstance(marker, Textarea):
        return Spec("textarea", attrs=attrs, rows=marker.rows)
    if isinstance(marker, Select):
        return Spec("select", multiple=marker.multiple or is_list, choices=marker.choices)
    if isinstance(marker, Input):
        return Spec("input", marker.type, attrs=attrs)
    if _is_upload(inner):
        return Spec("file", "file", multiple=is_list, attrs=attrs)
    choices = _choices_of(inner)
    if choices is not None:
        return Spec("select", multiple=is_list, choices=choices)
    if inner is bool:
        return Spec("checkbox", "checkbox")
    if inner is SecretStr:
        return Spec("input", "password", attrs=attrs, password=True)
    if isinstance(inner, type):
        if issubclass(inner, int):
            return Spec("input", "number", attrs={"step": "1", **attrs})
        if issubclass(inner, float | decimal.Decimal):
            return Spec("input", "number", attrs={"step": "any", **attrs})
        if issubclass(inner, datetime.datetime):
            return Spec("input", "datetime-local", attrs=attrs)
        if issubclass(inner, datetime.date):
            return Spec("input", "date", attrs=attrs)
        if issubclass(inner, datetime.time):
            return Spec("input", "time", attrs=attrs)
        name = inner.__name__.lower()
        if "email" in name:
            return Spec("input", "email", attrs=attrs)
        if "url" in name:
            return Spec("input", "url", attrs=attrs)
    if int(attrs.get("maxlength", "0")) > _TEXTAREA_FROM:
        return Spec("textarea", attrs=attrs)
    return Spec("input", "text", attrs=attrs)


def _attrs(values: dict[str, Any]) -> Markup:
    parts = []
    for name, value in values.items():
        if value is None or value is False:
            continue
        if value is True:
            parts.append(Markup(" {}").format(name))
        else:
            parts.append(Markup(' {}="{}"').format(name, value))
    return Markup("").join(parts)


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%dT%H:%M")
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, SecretStr):
        return ""
    return str(value)


def render_widget(
    spec: Spec,
    *,
    name: str,
    html_id: str,
    value: Any,
    required: bool,
    invalid: bool,
    described_by: str | None,
) -> Markup:
    """The HTML control of one field, its current ``value`` filled in (escaped)."""
    common: dict[str, Any] = {
        "id": html_id,
        "name": name,
        "aria-invalid": "true" if invalid else None,
        "aria-describedby": described_by,
    }
    if spec.kind == "checkbox":
        checked = value not in (None, False, "", "off", "false", "0")
        return Markup("<input{}>").format(
            _attrs({"type": "checkbox", **common, "value": "on", "checked": checked})
        )
    if spec.kind == "file":
        return Markup("<input{}>").format(
            _attrs(
                {
                    "type": "file",
                    **common,
                    "multiple": spec.multiple,
                    "required": required,
                    **spec.attrs,
                }
            )
        )
    if spec.kind == "select":
        selected = (
            {_as_text(v) for v in value}
            if isinstance(value, list | tuple | set)
            else {_as_text(value)}
        )
        options = [Markup("<option{}>{}</option>").format(_attrs({"value": ""}), "---------")]
        if spec.multiple:
            options = []
        for choice, label in spec.choices:
            text = _as_text(choice)
            options.append(
                Markup("<option{}>{}</option>").format(
                    _attrs({"value": text, "selected": text in selected}), label
                )
            )
        return Markup("<select{}>{}</select>").format(
            _attrs({**common, "multiple": spec.multiple, "required": required}),
            Markup("").join(options),
        )
    if spec.kind == "textarea":
        return Markup("<textarea{}>\n{}</textarea>").format(
            _attrs({**common, "rows": str(spec.rows), "required": required, **spec.attrs}),
            _as_text(value),
        )
    shown = None if spec.password else _as_text(value) or None
    return Markup("<input{}>").format(
        _attrs(
            {
                "type": spec.input_type,
                **common,
                "value": shown,
                "required": required and not spec.hidden,
                **spec.attrs,
            }
        )
    )


def render_errors(errors: list[str], html_id: str) -> Markup:
    """The error list of a field (empty when it has none)."""
    if not errors:
        return Markup("")
    items = Markup("").join(Markup("<li>{}</li>").format(e) for e in errors)
    return Markup('<ul class="errors" id="{}">{}</ul>').format(html_id, items)


def escape_text(value: Any) -> Markup:
    """``value`` as escaped HTML text."""
    return escape(_as_text(value))
