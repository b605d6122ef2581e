"""The files of a new project, as text templates (``{name}`` is the package name)."""

from __future__ import annotations

__all__ = ["COMMON", "FULLSTACK"]

PYPROJECT = """\
[project]
name = "{name}"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = ["keel"]

[project.optional-dependencies]
postgres = ["keel[postgres]"]
dev = ["pytest>=8"]

[tool.keel]
app = "{name}.app:app"

[tool.pytest.ini_options]
testpaths = ["tests"]
pythonpath = ["."]
addopts = "-ra"

[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[tool.hatch.build.targets.wheel]
packages = ["{name}"]
"""

README = """\
# {name}

A keel app: a JSON API for notes on `keel.db`, with health checks, migrations and tests.

## Two commands

On a machine with Python 3.11+ and a POSIX shell:

```sh
./scripts/demo     # creates .venv, installs the app, migrates, runs it on http://127.0.0.1:8000
./scripts/test     # creates .venv, installs the app with its test tools, runs the tests
```

Then open http://127.0.0.1:8000/docs for the API.

## Layout

- `{name}/settings.py`: the settings (`KEEL_*` environment variables and `.env`; see
  `.env.example`).
- `{name}/app.py`: the app: the database, the health checks (`/healthz`, `/readyz`) and the
  routers.
- `{name}/models.py`, `{name}/notes.py`: the `notes` table, its schemas and its routes.
- `migrations/`: the database migrations (`keel db makemigrations -m "..."` after a model
  change, then `keel db migrate`).
- `tests/`: tests on the `keel.db` test plugin (each test is rolled back).
- `Dockerfile`: the production image; it runs `keel serve` (drains on `SIGTERM`).

## Deploying

```sh
docker build -t {name} .
docker run --rm -e KEEL_SECRET_KEY=... -e KEEL_ALLOWED_HOSTS=example.com {name} keel db migrate
docker run -p 8000:8000 -e KEEL_SECRET_KEY=... -e KEEL_ALLOWED_HOSTS=example.com {name}
```

Set `KEEL_DATABASE_URL` to a PostgreSQL URL (`postgresql+asyncpg://...`, install the
`postgres` extra) for more than one instance.
"""

ENV_EXAMPLE = """\
# Copy to .env for local settings; in production set these in the environment.
# KEEL_DEBUG=true
# Production (keel serve) refuses to start without these two:
# KEEL_SECRET_KEY=  # python -c "import secrets; print(secrets.token_urlsafe(50))"
# KEEL_ALLOWED_HOSTS=example.com,www.example.com
# The database (default: sqlite+aiosqlite:///./app.db):
# KEEL_DATABASE_URL=postgresql+asyncpg://user:password@localhost/{name}
# Seconds in-flight requests get to finish after SIGTERM:
# KEEL_DRAIN_TIMEOUT=30
# The app's own settings ({name}/settings.py):
# KEEL_NOTES_PAGE_SIZE=20
"""

DOCKERFILE = """\
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY {name} ./{name}
COPY migrations ./migrations
RUN pip install --no-cache-dir . && useradd --create-home app && chown app /app
USER app
EXPOSE 8000
# keel serve: production mode, drains in-flight requests on SIGTERM (KEEL_DRAIN_TIMEOUT).
# Migrate as a release step: docker run IMAGE keel db migrate
CMD ["keel", "serve", "--host", "0.0.0.0", "--port", "8000"]
"""

DOCKERIGNORE = """\
.venv
.env
*.db
*.db-*
__pycache__
.pytest_cache
"""

GITIGNORE = DOCKERIGNORE

SCRIPT_DEMO = """\
#!/bin/sh
# Create .venv (once), install the app, migrate the database and run the app.
set -eu
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
# keel itself, from where `keel new` found it (KEEL_SPEC overrides), then this app
.venv/bin/python -m pip install --quiet "${{KEEL_SPEC:-{keel_spec}}}"
.venv/bin/python -m pip install --quiet -e .
.venv/bin/keel db migrate
exec .venv/bin/keel run "$@"
"""

SCRIPT_TEST = """\
#!/bin/sh
# Create .venv (once), install the app with its test tools and run the tests.
set -eu
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
# keel itself, from where `keel new` found it (KEEL_SPEC overrides), then this app
.venv/bin/python -m pip install --quiet "${{KEEL_SPEC:-{keel_spec}}}"
.venv/bin/python -m pip install --quiet -e ".[dev]"
exec .venv/bin/python -m pytest "$@"
"""

INIT = '''\
"""{name}: a keel app."""
'''

SETTINGS = '''\
"""The app's settings: keel's (KEEL_* environment variables and .env) plus its own."""

from pydantic import Field

import keel


class Settings(keel.Settings):
    """keel's settings and this app's."""

    notes_page_size: int = Field(default=20, ge=1, le=100)
    """Notes per page (KEEL_NOTES_PAGE_SIZE)."""
'''

APP = '''\
"""The app: settings, database, health checks and routers."""

from keel import App
from keel.db import Database

from {name}.notes import router
from {name}.settings import Settings

settings = Settings()
app = App(settings=settings, title="{name}")
db = Database()  # KEEL_DATABASE_URL; default sqlite+aiosqlite:///./app.db
db.init_app(app)
app.health()  # /healthz and /readyz (the database check registers itself)
app.include(router)
'''

MODELS = '''\
"""The tables and their API schemas."""

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from keel.db import IntPK, Model, NotBlank, Schema, Timestamps


class Note(IntPK, Timestamps, Model):
    __tablename__ = "notes"
    text: Mapped[str] = mapped_column(String(500))


class NoteRead(Schema, model=Note):
    """A note."""


class NoteCreate(Schema, model=Note, mode="create", constraints={{"text": NotBlank}}):
    """A new note."""
'''

NOTES = '''\
"""The notes API."""

from typing import Annotated

from sqlalchemy import select

from keel import Depends, Router
from keel.db import Page, Pagination, Session, get_or_404, paginate
from keel.settings import get_settings

from {name}.models import Note, NoteCreate, NoteRead
from {name}.settings import Settings

router = Router(prefix="/notes", tags=["notes"])


@router.get("")
async def list_notes(session: Session, page: Pagination) -> Page[NoteRead]:
    """The notes, oldest first."""
    return await paginate(session, select(Note).order_by(Note.id), page)


@router.post("", status=201)
async def create_note(data: NoteCreate, session: Session) -> NoteRead:
    """Add a note."""
    note = data.apply(Note())
    session.add(note)
    await session.flush()
    return NoteRead.model_validate(note)


@router.get("/{{note_id}}")
async def get_note(note_id: int, session: Session) -> NoteRead:
    """One note (404 when there is none)."""
    return NoteRead.model_validate(await get_or_404(session, Note, note_id))


@router.get("/settings/page-size", include_in_schema=False)
async def page_size(settings: Annotated[Settings, Depends(get_settings)]) -> dict[str, int]:
    """The app's own setting, read through the settings dependency."""
    return {{"page_size": settings.notes_page_size}}
'''

CONFTEST = '''\
"""The keel.db test plugin: each test runs in a transaction that is rolled back."""

import pytest

from keel import App

pytest_plugins = ["keel.db.testing"]


@pytest.fixture
def app() -> App:
    from {name}.app import app

    return app
'''

TEST_NOTES = '''\
"""The notes API, on a test database beside the configured one."""

from keel.testing import TestClient


def test_create_and_list(db_client: TestClient) -> None:
    created = db_client.post("/notes", json={{"text": "first"}})
    assert created.status_code == 201
    note = created.json()
    assert note["text"] == "first"
    assert db_client.get(f"/notes/{{note['id']}}").json() == note
    listed = db_client.get("/notes").json()
    assert [n["text"] for n in listed["items"]] == ["first"]


def test_rolled_back_between_tests(db_client: TestClient) -> None:
    assert db_client.get("/notes").json()["items"] == []


def test_bad_input_is_a_problem(db_client: TestClient) -> None:
    response = db_client.post("/notes", json={{"text": "  "}})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert db_client.get("/notes/999").status_code == 404


def test_health(db_client: TestClient) -> None:
    assert db_client.get("/healthz").json() == {{"status": "ok"}}
    ready = db_client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"]["status"] == "ok"
'''

PAGES = '''\
"""The HTML pages."""

from pathlib import Path

from sqlalchemy import select

from keel import Request, Router
from keel.db import Session
from keel.responses import HTMLResponse
from keel.templates import Templates

from {name}.models import Note

router = Router(include_in_schema=False)
templates = Templates(Path(__file__).with_name("templates"))


@router.get("/")
async def home(request: Request, session: Session) -> HTMLResponse:
    """The notes, as a page."""
    notes = (await session.scalars(select(Note).order_by(Note.id))).all()
    return templates.render(request, "home.html", {{"notes": notes}})
'''

BASE_HTML = """\
<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{{% block title %}}{name}{{% endblock %}}</title>
  <link rel="stylesheet" href="{{{{ static('app.css') }}}}">
</head>
<body>{{% block content %}}{{% endblock %}}</body>
</html>
"""

HOME_HTML = """\
{{% extends "base.html" %}}
{{% block content %}}
<h1>{name}</h1>
<ul id="notes">
{{% for note in notes %}}  <li>{{{{ note.text }}}}</li>
{{% else %}}  <li>No notes yet.</li>
{{% endfor %}}</ul>
{{% endblock %}}
"""

APP_CSS = """\
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 40rem; }}
"""

TEST_PAGES = '''\
"""The HTML page."""

from keel.testing import TestClient


def test_home_lists_notes(db_client: TestClient) -> None:
    db_client.post("/notes", json={{"text": "<b>bold</b>"}})
    page = db_client.get("/", headers={{"accept": "text/html"}})
    assert page.status_code == 200
    assert "&lt;b&gt;bold&lt;/b&gt;" in page.text  # autoescaped
'''

FULLSTACK_APP = (
    APP.replace(
        "from keel import App\n",
        "from pathlib import Path\n\nfrom keel import App\n",
    )
    .replace(
        "from {name}.notes import router\n",
        "from {name} import pages\nfrom {name}.notes import router\n",
    )
    .replace(
        "app.include(router)\n",
        "app.include(router)\n"
        "app.include(pages.router)\n"
        'app.static("/static", Path(__file__).with_name("static"))\n',
    )
)

COMMON: dict[str, str] = {
    "pyproject.toml": PYPROJECT,
    "README.md": README,
    ".env.example": ENV_EXAMPLE,
    "Dockerfile": DOCKERFILE,
    ".dockerignore": DOCKERIGNORE,
    ".gitignore": GITIGNORE,
    "scripts/demo": SCRIPT_DEMO,
    "scripts/test": SCRIPT_TEST,
    "{name}/__init__.py": INIT,
    "{name}/settings.py": SETTINGS,
    "{name}/app.py": APP,
    "{name}/models.py": MODELS,
    "{name}/notes.py": NOTES,
    "tests/__init__.py": "",
    "tests/conftest.py": CONFTEST,
    "tests/test_notes.py": TEST_NOTES,
}

FULLSTACK: dict[str, str] = {
    **COMMON,
    "{name}/app.py": FULLSTACK_APP,
    "{name}/pages.py": PAGES,
    "{name}/templates/base.html": BASE_HTML,
    "{name}/templates/home.html": HOME_HTML,
    "{name}/static/app.css": APP_CSS,
    "tests/test_pages.py": TEST_PAGES,
}
