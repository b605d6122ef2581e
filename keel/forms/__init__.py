"""HTML forms declared as pydantic models: parse, validate, re-render with errors.

A form is a class; its fields are validated exactly as a JSON body's would be (pydantic),
from the strings a browser posts::

    from keel.forms import Form

    class Signup(Form):
        name: str = Field(min_length=1, title="Your name")
        email: EmailStr
        newsletter: bool = False

    @app.post("/signup")
    async def signup(request: Request) -> Response:
        form = await Signup.bind(request)
        if not form.valid:
            return await templates.render(request, "signup.html", {"form": form}, status=422)
        save(form.data)  # a Signup instance
        return see_other("/thanks")

In a template ``{{ form.render() }}`` writes every field (label, control, errors) and the
CSRF token; ``{{ form["email"] }}`` one field; ``{{ form["email"].widget() }}`` just the
control.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from markupsafe import Markup
from pydantic import BaseModel, ConfigDict, ValidationError, create_model
from pydantic.fields import FieldInfo

from keel.forms import _widgets
from keel.forms._widgets import Hidden, Input, Password, Select, Textarea, Widget
from keel.responses import RedirectResponse as _Redirect

if TYPE_CHECKING:
    from keel.datastructures import FormData
    from keel.db.schema._columns import Mode
    from keel.requests import Request

__all__ = [
    "BoundField",
    "BoundForm",
    "Form",
    "Hidden",
    "Input",
    "Password",
    "Select",
    "Textarea",
    "Widget",
    "form",
    "see_other",
]

F = TypeVar("F", bound="Form")

_REQUIRED = "This field is required."
_SPECS: weakref.WeakKeyDictionary[type[Any], dict[str, _widgets.Spec]] = weakref.WeakKeyDictionary()


class Form(BaseModel):
    """Base class of forms: declare the fields as on a pydantic model.

    ``Field(title=...)`` is the label, ``Field(description=...)`` the help text; widget
    markers (:class:`Textarea`, :class:`Password`, :class:`Select`, :class:`Hidden`,
    :class:`Input`) in ``Annotated`` choose the control when the type alone does not.
    """

    model_config = ConfigDict(extra="ignore", arbitrary_types_allowed=True)

    @classmethod
    def widget_specs(cls) -> dict[str, _widgets.Spec]:
        """Each field's widget, derived once per class."""
        specs = _SPECS.get(cls)
        if specs is None:
            specs = {name: _widgets.infer_widget(info) for name, info in cls.model_fields.items()}
            _SPECS[cls] = specs
        return specs

    @classmethod
    async def bind(
        cls: type[F],
        request: Request,
        *,
        choices: Mapping[str, Sequence[tuple[Any, str]]] | None = None,
        prefix: str = "",
    ) -> BoundForm[F]:
        """Read the request's form body (urlencoded or multipart) and validate it.

        Args:
            request: The request whose body holds the submitted form.
            choices: ``{field: [(value, label), ...]}`` for select fields whose options are
                known only now (rows of a related table).
            prefix: Prefix of the field names (two forms on one page).
        """
        submitted = await request.form()
        bound = BoundForm(cls, request=request, choices=choices, prefix=prefix)
        bound._validate(submitted)
        return bound

    @classmethod
    def blank(
        cls: type[F],
        request: Request | None = None,
        *,
        initial: Mapping[str, Any] | BaseModel | None = None,
        choices: Mapping[str, Sequence[tuple[Any, str]]] | None = None,
        prefix: str = "",
    ) -> BoundForm[F]:
        """An empty form to show (a GET), filled with ``initial`` values when given."""
        if isinstance(initial, BaseModel):
            initial = initial.model_dump()
        return BoundForm(
            cls, request=request, initial=dict(initial or {}), choices=choices, prefix=prefix
        )


class BoundField:
    """One field of a bound form: its label, control, value and errors."""

    def __init__(
        self, form: BoundForm[Any], name: str, info: FieldInfo, spec: _widgets.Spec
    ) -> None:
        self.form = form
        self.name = name
        self.info = info
        self.spec = spec

    @property
    def html_name(self) -> str:
        """The ``name`` attribute (with the form's prefix)."""
        return self.form.prefix + self.name

    @property
    def id(self) -> str:
        """The ``id`` of the control."""
        return f"id_{self.html_name}"

    @property
    def label(self) -> str:
        """The label: the field's ``title``, else its name in words."""
        return self.info.title or self.name.replace("_", " ").capitalize()

    @property
    def help_text(self) -> str | None:
        """The field's ``description``."""
        return self.info.description

    @property
    def required(self) -> bool:
        """Whether the field must be filled in (checkboxes never are)."""
        return self.info.is_required() and self.spec.kind != "checkbox"

    @property
    def errors(self) -> list[str]:
        """This field's error messages."""
        return self.form.errors.get(self.name, [])

    @property
    def value(self) -> Any:
        """What the control shows: the submitted value, else the initial one."""
        if self.form.submitted is not None:
            if self.spec.multiple:
                return self.form.submitted.getlist(self.html_name)
            return self.form.submitted.get(self.html_name)
        if self.name in self.form.initial:
            return self.form.initial[self.name]
        if self.info.is_required():
            return None
        return self.info.get_default(call_default_factory=True)

    @property
    def is_hidden(self) -> bool:
        """Whether the control is a hidden input."""
        return self.spec.hidden

    def label_tag(self) -> Markup:
        """``<label for=...>``."""
        star = Markup(' <span aria-hidden="true">*</span>') if self.required else Markup("")
        return Markup('<label for="{}">{}{}</label>').format(self.id, self.label, star)

    def widget(self) -> Markup:
        """The control alone (``<input>``, ``<select>``, ``<textarea>``)."""
        spec = self.spec
        extra = self.form.choices.get(self.name)
        if extra is not None:
            spec = _widgets.Spec(
                "select",
                multiple=spec.multiple,
                choices=tuple(extra),
                attrs=spec.attrs,
            )
        described = []
        if self.help_text:
            described.append(f"{self.id}_help")
        if self.errors:
            described.append(f"{self.id}_errors")
        return _widgets.render_widget(
            spec,
            name=self.html_name,
            html_id=self.id,
            value=self.value,
            required=self.required,
            invalid=bool(self.errors),
            described_by=" ".join(described) or None,
        )

    def errors_html(self) -> Markup:
        """The field's errors as a list (empty when valid)."""
        return _widgets.render_errors(self.errors, f"{self.id}_errors")

    def render(self) -> Markup:
        """Label, control, help text and errors in one ``<div class="field">``."""
        if self.is_hidden:
            return self.widget()
        help_html = Markup("")
        if self.help_text:
            help_html = Markup('<small id="{}_help">{}</small>').format(self.id, self.help_text)
        classes = "field error" if self.errors else "field"
        if self.spec.kind == "checkbox":
            inner = Markup("{} {}").format(self.widget(), self.label_tag())
        else:
            inner = Markup("{}{}").format(self.label_tag(), self.widget())
        return Markup('<div class="{}">{}{}{}</div>').format(
            classes, inner, help_html, self.errors_html()
        )

    def __html__(self) -> str:
        return str(self.render())

    def __repr__(self) -> str:
        return f"<BoundField {self.name}>"


class BoundForm(Generic[F]):
    """A form with its values: submitted (and validated) or initial (to show).

    Attributes:
        valid: Whether the submitted values passed validation.
        errors: ``{field: [message, ...]}``; form-wide messages under ``"__all__"``.
        submitted: The submitted form data (``None`` for a blank form).
    """

    def __init__(
        self,
        form_class: type[F],
        *,
        request: Request | None = None,
        initial: dict[str, Any] | None = None,
        choices: Mapping[str, Sequence[tuple[Any, str]]] | None = None,
        prefix: str = "",
    ) -> None:
        self.form_class = form_class
        self.request = request
        self.initial = initial or {}
        self.choices = dict(choices or {})
        self.prefix = prefix
        self.submitted: FormData | None = None
        self.errors: dict[str, list[str]] = {}
        self.valid = False
        self._data: F | None = None
        self._specs = form_class.widget_specs()

    @property
    def data(self) -> F:
        """The validated form (an instance of the form class).

        Raises:
            ValueError: The form was not submitted or is not valid.
        """
        if self._data is None:
            raise ValueError("The form is not valid: check form.valid before form.data")
        return self._data

    @property
    def non_field_errors(self) -> list[str]:
        """Errors about the form as a whole (from model validators)."""
        return self.errors.get("__all__", [])

    @property
    def multipart(self) -> bool:
        """Whether the form has file fields (then ``enctype="multipart/form-data"``)."""
        return any(spec.kind == "file" for spec in self._specs.values())

    @property
    def enctype(self) -> str:
        """The ``enctype`` the ``<form>`` element needs."""
        return "multipart/form-data" if self.multipart else "application/x-www-form-urlencoded"

    def add_error(self, field: str | None, message: str) -> None:
        """Add an error found after validation (``"email already registered"``)."""
        self.errors.setdefault(field or "__all__", []).append(message)
        self.valid = False
        self._data = None

    def __getitem__(self, name: str) -> BoundField:
        info = self.form_class.model_fields.get(name)
        if info is None:
            raise KeyError(f"{self.form_class.__name__} has no field {name!r}")
        return BoundField(self, name, info, self._specs[name])

    def __iter__(self) -> Iterator[BoundField]:
        for name in self.form_class.model_fields:
            yield self[name]

    def csrf_input(self) -> Markup:
        """The hidden CSRF field, when the app checks CSRF tokens (empty otherwise)."""
        request = self.request
        if request is None:
            return Markup("")
        if request.scope.get("session") is None:  # no sessions, so no CSRF check
            return Markup("")
        from keel.csrf import csrf_input

        return Markup(csrf_input(request))

    def render(self) -> Markup:
        """Every field (and the CSRF token and form-wide errors), ready for a ``<form>``."""
        parts = [
            self.csrf_input(),
            _widgets.render_errors(self.non_field_errors, "id___all___errors"),
        ]
        parts += [field.render() for field in self]
        return Markup("\n").join(p for p in parts if p)

    def __html__(self) -> str:
        return str(self.render())

    # -- validation -----------------------------------------------------------------------

    def _validate(self, submitted: FormData) -> None:
        self.submitted = submitted
        values: dict[str, Any] = {}
        for name, spec in self._specs.items():
            key = self.prefix + name
            if spec.kind == "checkbox":
                raw = submitted.get(key)
                values[name] = raw is not None and str(raw).lower() not in ("", "off", "false")
                continue
            if spec.multiple:
                items = [v for v in submitted.getlist(key) if not _blank(v)]
                if items:
                    values[name] = items
                continue
            raw = submitted.get(key)
            if not _blank(raw):
                values[name] = raw
        try:
            self._data = self.form_class.model_validate(values)
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                loc = error.get("loc") or ()
                name = str(loc[0]) if loc and loc[0] in self.form_class.model_fields else "__all__"
                message = _REQUIRED if error["type"] == "missing" else error["msg"]
                self.errors.setdefault(name, []).append(message)
            self.valid = False
            return
        self.valid = True

    def __repr__(self) -> str:
        state = "valid" if self.valid else f"errors={self.errors}"
        return f"<BoundForm {self.form_class.__name__} {state}>"


def _blank(value: Any) -> bool:
    """An empty text box, an unchosen option or a file input left empty."""
    if value is None:
        return True
    if isinstance(value, str):
        return value == ""
    return getattr(value, "filename", None) == "" or (
        getattr(value, "filename", "x") is None and getattr(value, "size", 1) == 0
    )


def form(
    model: type[Any],
    *,
    fields: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    name: str | None = None,
    mode: Mode = "create",
) -> type[Form]:
    """A :class:`Form` derived from a ``keel.db`` model's columns.

    ``form(Book, fields=["title", "author_id"])``: the fields, types, lengths and defaults
    come from the columns (as ``keel.db.schema`` derives them); give a select field its
    options at bind time with ``choices={"author_id": [(1, "Ada"), ...]}``.
    """
    from keel.db.schema import schema

    derived = schema(
        model,
        mode=mode,
        include=fields,
        exclude=exclude,
        name=(name or f"{model.__name__}Form") + "Schema",
    )
    definitions: dict[str, Any] = {
        field_name: (info.annotation, info) for field_name, info in derived.model_fields.items()
    }
    if fields is not None:  # keep the order the caller asked for
        definitions = {n: definitions[n] for n in fields if n in definitions}
    built: type[Form] = create_model(name or f"{model.__name__}Form", __base__=Form, **definitions)
    return built


def see_other(url: str) -> _Redirect:
    """The answer to a successful POST: ``303 See Other`` to ``url`` (POST-redirect-GET),
    so reloading the next page does not post the form again."""
    return _Redirect(url, status_code=303)
