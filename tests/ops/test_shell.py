"""``keel shell``: app, settings, db, session and models at a prompt where await works."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KEEL = str(Path(sys.executable).parent / "keel")

SESSION = """\
print("app", type(app).__name__, type(settings).__name__, type(session).__name__)
print("models", Author.__tablename__, Book.__tablename__)
session.add(Author(name="Ada"))
await session.commit()
names = (await session.scalars(__import__("sqlalchemy").select(Author.name))).all()
print("rows", names)
1/0
print("still here", run(db.health_check()))
"""


def test_shell_with_the_database(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    env["KEEL_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'shell.db'}"
    migrated = subprocess.run(
        [KEEL, "db", "--app", "examples.crud.app:app", "migrate"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stderr
    done = subprocess.run(
        [KEEL, "shell", "examples.crud.app:app", "--plain"],
        cwd=ROOT,
        env=env,
        input=SESSION,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "app App Settings AsyncSession" in done.stdout
    assert "models authors books" in done.stdout
    assert "rows ['Ada']" in done.stdout
    assert "still here None" in done.stdout  # an error does not end the shell
    assert "ZeroDivisionError: division by zero" in done.stderr
    assert "keel shell: Author, Book, app, db, run, session, settings." in done.stderr
    assert "ModuleNotFoundError" not in done.stderr


def test_shell_without_a_database() -> None:
    done = subprocess.run(
        [KEEL, "shell", "examples.hello:app", "--plain"],
        cwd=ROOT,
        input="print(sorted(k for k in globals() if not k.startswith('_')))\n",
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "['app', 'run', 'settings']" in done.stdout
