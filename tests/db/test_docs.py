"""docs/db.md's test setup, run as written against a project that has migrations."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from keel import App
from keel.db import Database, Session, get_or_404
from keel.testing import TestClient

from .db_test_models import Author, AuthorRead

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "db.md"

MODELS = """
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from keel.db import IntPK, Model


class Author(IntPK, Model):
    __tablename__ = "authors"
    name: Mapped[str] = mapped_column(String(100), unique=True)
"""

MAIN = """
from pathlib import Path

from sqlalchemy import select

from keel import App
from keel.db import Database, Page, Pagination, Session, paginate, schema

from .models import Author

app = App()
db = Database(migrations=Path(__file__).with_name("migrations"))
db.init_app(app)
AuthorRead = schema(Author)


@app.get("/authors")
async def list_authors(session: Session, page: Pagination) -> Page[AuthorRead]:
    return await paginate(session, select(Author).order_by(Author.id), page)
"""


def doc_files() -> dict[str, str]:
    """The snippets marked ``<!-- test: name -->`` in docs/db.md (the page's own run skips
    them, ``<!-- not-run -->``: they import a project that only this test writes)."""
    found = re.findall(
        r"<!-- test: (\S+) -->\n(?:<!-- not-run -->\n)?```python\n(.*?)```", DOC.read_text(), re.S
    )
    return dict(found)


def run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=180)


def test_the_documented_test_setup_works_with_migrations(
    fresh_database_url: str, tmp_path: Path
) -> None:
    files = doc_files()
    assert set(files) == {"conftest.py", "test_authors.py"}
    project = tmp_path / "myproject"
    project.mkdir()
    (project / "__init__.py").write_text("")
    (project / "models.py").write_text(textwrap.dedent(MODELS))
    (project / "main.py").write_text(textwrap.dedent(MAIN))
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    env["PYTHONPATH"] = str(ROOT)
    env["KEEL_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'scratch.db'}"
    made = run(
        [
            sys.executable,
            "-c",
            "from keel.db import migrations; from myproject.main import db; "
            "migrations.init(db); migrations.make_migrations(db, 'authors')",
        ],
        tmp_path,
        env,
    )
    assert made.returncode == 0, made.stderr
    assert list((project / "migrations" / "versions").glob("*.py"))

    for name, text in files.items():
        (tmp_path / name).write_text(text)
    # The developer's database, as a README would have them export it: never opened.
    env["KEEL_DATABASE_URL"] = fresh_database_url
    result = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], tmp_path, env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "1 passed" in result.stdout
    if fresh_database_url.startswith("sqlite"):
        assert not Path(fresh_database_url.split("///", 1)[1]).exists()


def test_the_quick_start_creates_the_tables(tmp_path: Path) -> None:
    """docs/db.md: `await db.create_all()` in a startup hook, for an app without migrations."""
    text = DOC.read_text()
    assert "@app.on_startup\nasync def create_tables() -> None:\n    await db.create_all()" in text
    app = App()
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'quick.db'}")
    db.init_app(app)

    @app.on_startup
    async def create_tables() -> None:
        await db.create_all()

    @app.get("/authors/{author_id}", response_model=AuthorRead)
    async def get_author(author_id: int, session: Session) -> Author:
        return await get_or_404(session, Author, author_id)

    with TestClient(app) as client:
        assert client.get("/authors/1").status_code == 404  # the table exists, the row not
