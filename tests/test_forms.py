"""keel.forms: forms declared as pydantic models, parsed from posted bodies, re-rendered."""

from __future__ import annotations

import datetime
import enum
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Annotated, Literal

import pytest
from pydantic import EmailStr, Field, SecretStr, model_validator
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from keel import App, Request
from keel.db import IntPK, Model
from keel.forms import BoundForm, Form, Hidden, Password, Select, Textarea, form, see_other
from keel.requests import UploadFile
from keel.responses import HTMLResponse, Response
from keel.testing import TestClient


class Color(enum.Enum):
    RED = "red"
    DARK_BLUE = "dark_blue"


class Signup(Form):
    name: str = Field(min_length=2, max_length=40, title="Your name")
    email: EmailStr
    age: int | None = Field(default=None, ge=13, le=130)
    price: Decimal = Decimal("0")
    newsletter: bool = False
    color: Color = Color.RED
    size: Literal["s", "m", "l"] = "m"
    tags: list[Color] = []
    born: datetime.date | None = None
    bio: Annotated[str, Textarea(rows=3)] = ""
    password: Annotated[str, Password()] = ""
    token: Annotated[str, Hidden()] = ""
    secret: SecretStr | None = None

    @model_validator(mode="after")
    def _no_admins(self) -> Signup:
        if self.name.lower() == "admin":
            raise ValueError("That name is reserved")
        return self


def make_app() -> App:
    app = App()

    @app.get("/signup")
    async def show(request: Request) -> HTMLResponse:
        bound = Signup.blank(request, initial={"name": "Ada <script>"})
        return HTMLResponse(f"<form method=post>{bound.render()}</form>")

    @app.post("/signup")
    async def submit(request: Request) -> Response:
        bound = await Signup.bind(request)
        if not bound.valid:
            return HTMLResponse(f"<form method=post>{bound.render()}</form>", 422)
        data = bound.data
        return see_other(f"/done?name={data.name}&tags={len(data.tags)}&news={data.newsletter}")

    return app


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(make_app()) as client:
        yield client


def test_blank_form_renders_every_field_with_labels(client: TestClient) -> None:
    page = client.get("/signup").text
    assert '<label for="id_name">Your name <span aria-hidden="true">*</span></label>' in page
    assert 'value="Ada &lt;script&gt;"' in page  # initial values escaped
    assert "<script>" not in page
    assert re.search(r'<input type="text" id="id_name" name="name"[^>]* required', page)
    assert 'minlength="2"' in page and 'maxlength="40"' in page
    assert '<input type="email" id="id_email" name="email" required>' in page
    assert 'type="number" id="id_age" name="age" step="1" min="13" max="130"' in page
    assert 'name="price" value="0" step="any"' in page
    assert '<input type="checkbox" id="id_newsletter" name="newsletter" value="on">' in page
    assert '<option value="red" selected>Red</option>' in page
    assert '<option value="dark_blue">Dark blue</option>' in page
    assert '<select id="id_tags" name="tags" multiple>' in page
    assert '<input type="date" id="id_born" name="born">' in page
    assert '<textarea id="id_bio" name="bio" rows="3">' in page
    assert '<input type="password" id="id_password" name="password">' in page
    assert '<input type="hidden" id="id_token" name="token">' in page
    assert '<label for="id_token">' not in page  # hidden fields have no label


def test_valid_post_redirects_see_other(client: TestClient) -> None:
    response = client.post(
        "/signup",
        data={
            "name": "Ada",
            "email": "ada@example.com",
            "age": "36",
            "newsletter": "on",
            "tags": ["red", "dark_blue"],
            "born": "1815-12-10",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/done?name=Ada&tags=2&news=True"


def test_invalid_post_rerenders_with_values_and_messages(client: TestClient) -> None:
    response = client.post(
        "/signup",
        data={"name": "A", "email": "not-an-email", "age": "twelve", "bio": "</textarea>x"},
    )
    assert response.status_code == 422
    page = response.text
    assert 'value="A"' in page and 'value="not-an-email"' in page  # what was typed comes back
    assert "&lt;/textarea&gt;x</textarea>" in page  # escaped inside the textarea
    assert 'aria-invalid="true"' in page
    assert 'aria-describedby="id_name_errors"' in page
    assert re.search(r'<ul class="errors" id="id_name_errors"><li>[^<]*at least 2', page)
    assert re.search(r'id="id_age_errors"><li>[^<]*valid integer', page)
    assert 'class="field error"' in page


def test_missing_required_fields_say_so() -> None:
    app = make_app()
    with TestClient(app) as client:
        page = client.post("/signup", data={"name": "", "email": ""}).text
    assert page.count("This field is required.") == 2


def test_form_wide_errors_and_add_error() -> None:
    app = App()

    @app.post("/")
    async def submit(request: Request) -> dict[str, object]:
        bound = await Signup.bind(request)
        if bound.valid:
            bound.add_error("email", "Already registered")
        return {"errors": bound.errors, "all": bound.non_field_errors, "valid": bound.valid}

    with TestClient(app) as client:
        reserved = client.post("/", data={"name": "admin", "email": "a@example.com"}).json()
        taken = client.post("/", data={"name": "Ada", "email": "a@example.com"}).json()
    assert reserved["all"] == ["Value error, That name is reserved"]
    assert taken == {"errors": {"email": ["Already registered"]}, "all": [], "valid": False}


def test_data_of_an_invalid_form_is_an_error() -> None:
    bound: BoundForm[Signup] = Signup.blank()
    with pytest.raises(ValueError, match="not valid"):
        _ = bound.data


def test_fields_render_by_hand() -> None:
    bound = Signup.blank()
    field = bound["email"]
    assert str(field.label_tag()) == (
        '<label for="id_email">Email <span aria-hidden="true">*</span></label>'
    )
    assert str(field.widget()) == '<input type="email" id="id_email" name="email" required>'
    assert field.errors == [] and str(field.errors_html()) == ""
    assert [f.name for f in bound][:3] == ["name", "email", "age"]
    with pytest.raises(KeyError):
        bound["nope"]


def test_choices_at_bind_time_make_a_select() -> None:
    class Book(Form):
        title: str
        author_id: int

    bound = Book.blank(
        choices={"author_id": [(1, "Ada"), (2, "Grace <3")]}, initial={"author_id": 2}
    )
    html = str(bound["author_id"].widget())
    assert '<option value="2" selected>Grace &lt;3</option>' in html
    assert html.startswith('<select id="id_author_id" name="author_id" required>')


def test_select_marker_and_prefix() -> None:
    class Pick(Form):
        flavour: Annotated[str, Select(choices=[("a", "Apple"), ("b", "Banana")])]

    app = App()

    @app.post("/")
    async def submit(request: Request) -> dict[str, object]:
        bound = await Pick.bind(request, prefix="p-")
        return {"valid": bound.valid, "html": str(bound["flavour"].widget())}

    with TestClient(app) as client:
        body = client.post("/", data={"p-flavour": "b"}).json()
    assert body["valid"] is True
    assert '<option value="b" selected>Banana</option>' in body["html"]
    assert 'name="p-flavour"' in body["html"]


def test_passwords_are_never_shown_again() -> None:
    app = App()

    @app.post("/")
    async def submit(request: Request) -> HTMLResponse:
        bound = await Signup.bind(request)
        return HTMLResponse(str(bound.render()))

    with TestClient(app) as client:
        page = client.post("/", data={"name": "A", "password": "hunter22", "secret": "s3"}).text
    assert "hunter22" not in page and "s3" not in page


def test_file_fields_make_a_multipart_form() -> None:
    class Upload(Form):
        title: str
        attachment: UploadFile

    app = App()

    @app.post("/")
    async def submit(request: Request) -> dict[str, object]:
        bound = await Upload.bind(request)
        if not bound.valid:
            return {"errors": bound.errors}
        data = await bound.data.attachment.read()
        return {"enctype": bound.enctype, "size": len(data), "name": bound.data.attachment.filename}

    with TestClient(app) as client:
        ok = client.post("/", data={"title": "x"}, files={"attachment": ("a.txt", b"hello")})
        empty = client.post("/", data={"title": "x"}, files={"attachment": ("", b"")})
    assert ok.json() == {"enctype": "multipart/form-data", "size": 5, "name": "a.txt"}
    assert empty.json() == {"errors": {"attachment": ["This field is required."]}}
    assert Signup.blank().enctype == "application/x-www-form-urlencoded"
    assert 'type="file"' in str(Upload.blank()["attachment"].widget())


class Article(IntPK, Model):
    __tablename__ = "forms_article"

    title: Mapped[str] = mapped_column(String(80))
    body: Mapped[str | None]
    published: Mapped[bool] = mapped_column(default=False)


def test_form_from_a_model() -> None:
    ArticleForm = form(Article, fields=["title", "published"])
    assert list(ArticleForm.model_fields) == ["title", "published"]
    html = str(ArticleForm.blank().render())
    assert '<input type="text" id="id_title" name="title" required' in html
    assert 'type="checkbox" id="id_published"' in html
    assert "id_id" not in html and "id_body" not in html

    app = App()

    @app.post("/")
    async def submit(request: Request) -> dict[str, object]:
        bound = await ArticleForm.bind(request)
        return {"valid": bound.valid, "data": bound.data.model_dump() if bound.valid else None}

    with TestClient(app) as client:
        body = client.post("/", data={"title": "Hello", "published": "on"}).json()
    assert body == {"valid": True, "data": {"title": "Hello", "published": True}}
