"""``keel new NAME``: scaffold a working project (loaded from the ``keel.cli`` entry point).

The project has a package with its settings and an app with one router (``api``), plus an
HTML page with a template and static files (``fullstack``); ``keel.db`` with a first
migration; tests on the ``keel.db`` test plugin; a README with two commands; a
``.env.example``; and a Dockerfile that runs ``keel serve``.
"""

from __future__ import annotations

import keyword
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Literal

import click

from keel.scaffold._files import COMMON as _COMMON
from keel.scaffold._files import FULLSTACK as _FULLSTACK

__all__ = ["TEMPLATES", "create_project", "new"]

TEMPLATES = ("api", "fullstack")
"""The project templates ``keel new --template`` offers."""

_RESERVED = {"keel", "test", "tests", "app", "migrations", "scripts", "site", "sys", "os"}

_FIRST_MIGRATION = """\
import sys
from pathlib import Path

from keel.db import migrations
from keel.db.cli import find_database

database = find_database(None)  # [tool.keel] app in the new pyproject.toml
database.use_url("sqlite+aiosqlite:///" + sys.argv[1])
migrations.init(database)
migrations.make_migrations(database, "initial")
"""


def _check_name(name: str) -> None:
    if not name.isidentifier() or not name.isascii() or name != name.lower():
        raise click.BadParameter(
            f"{name!r} is not a package name: use lower-case letters, digits and "
            "underscores, starting with a letter (e.g. 'notes_app')",
            param_hint="NAME",
        )
    if keyword.iskeyword(name) or name in _RESERVED or name in sys.stdlib_module_names:
        raise click.BadParameter(
            f"{name!r} would shadow a Python or keel module: choose another name",
            param_hint="NAME",
        )


def _keel_spec() -> str:
    """What the new project's scripts install keel from: this keel's source checkout when
    it runs from one (an editable install); else where this keel was installed from (a
    local folder, an archive or a VCS URL, as pip recorded it: PEP 610); else the ``keel``
    distribution of this version."""
    source = Path(__file__).resolve().parents[2]
    if (source / "pyproject.toml").is_file() and (source / "keel" / "__init__.py").is_file():
        return str(source)
    import json
    from importlib import metadata

    try:
        dist = metadata.distribution("keel")
        origin = json.loads(dist.read_text("direct_url.json") or "{}")
    except (metadata.PackageNotFoundError, ValueError):
        return "keel"
    url = str(origin.get("url", ""))
    vcs = origin.get("vcs_info")
    if isinstance(vcs, dict) and url:
        return f"{vcs.get('vcs', 'git')}+{url}@{vcs.get('commit_id', '')}".rstrip("@")
    if url.startswith("file://"):
        return url.removeprefix("file://")
    if url:
        return url
    return f"keel=={dist.version}"


def create_project(
    name: str,
    directory: Path,
    template: Literal["api", "fullstack"] = "api",
) -> list[Path]:
    """Write the project ``name`` into ``directory`` (new or empty) and its first migration.

    Returns:
        The files written, the migration included.

    Raises:
        click.BadParameter: the name is not a usable package name.
        click.ClickException: the folder is not empty, or the migration could not be made.
    """
    _check_name(name)
    if template not in TEMPLATES:
        raise click.BadParameter(f"unknown template {template!r}", param_hint="--template")
    if directory.exists() and any(directory.iterdir()):
        raise click.ClickException(f"{directory} exists and is not empty")
    files = _FULLSTACK if template == "fullstack" else _COMMON
    written: list[Path] = []
    for relative, text in files.items():
        path = directory / relative.format(name=name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.format(name=name, keel_spec=_keel_spec()), encoding="utf-8")
        if relative.startswith("scripts/"):
            path.chmod(0o755)
        written.append(path)
    written += _first_migration(directory)
    return written


def _first_migration(directory: Path) -> list[Path]:
    """Generate the first migration from the models, in a fresh process (the new package
    is imported there, never into this one), against a throwaway SQLite file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEEL_", "PYTHONPATH"))}
    env["PYTHONPATH"] = os.pathsep.join([str(directory), *sys.path[1:]])
    with tempfile.TemporaryDirectory() as scratch:
        done = subprocess.run(
            [sys.executable, "-c", _FIRST_MIGRATION, str(Path(scratch) / "scaffold.db")],
            cwd=directory,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        raise click.ClickException(f"could not write the first migration:\n{done.stderr}")
    return sorted((directory / "migrations").rglob("*.py")) + [directory / "migrations/README"]


@click.command()
@click.argument("name")
@click.option(
    "--template",
    type=click.Choice(TEMPLATES),
    default="api",
    show_default=True,
    help="api: a JSON API; fullstack: the API plus an HTML page, templates and static files.",
)
@click.option(
    "--directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write it (default: ./NAME).",
)
def new(name: str, template: Literal["api", "fullstack"], directory: Path | None) -> None:
    """Create the project NAME: app, settings, database and first migration, tests,
    README, .env.example and Dockerfile."""
    target = directory if directory is not None else Path(name)
    files = create_project(name, target, template)
    click.echo(f"Created {target}/ ({template}, {len(files)} files). Next:")
    click.echo(f"  cd {target}")
    click.echo("  ./scripts/test     # install and run the tests")
    click.echo("  ./scripts/demo     # migrate and run on http://127.0.0.1:8000")
