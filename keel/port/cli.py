"""``keel port fastapi PATH... [--check] [--diff] [--native]``: the FastAPI codemod's command."""

from __future__ import annotations

import difflib
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from keel.port import require_libcst

__all__ = ["fastapi", "port"]

_SKIP_DIRS = {"__pycache__", "node_modules", "site-packages", "venv", "build", "dist"}


@click.group()
def port() -> None:
    """Move a project from another framework to keel."""


def _python_files(paths: tuple[Path, ...]) -> Iterator[Path]:
    """The ``.py`` files under PATHS, skipping virtualenvs, caches and hidden folders."""
    for path in paths:
        if path.is_file():
            yield path
            continue
        for found in sorted(path.rglob("*.py")):
            parts = found.relative_to(path).parts[:-1]
            if any(p.startswith(".") or p in _SKIP_DIRS for p in parts):
                continue
            yield found


@port.command()
@click.argument(
    "paths",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, path_type=Path),
)
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if a file would change.")
@click.option("--diff", is_flag=True, help="Print a unified diff instead of writing.")
@click.option(
    "--native",
    is_flag=True,
    help="FastAPI() becomes keel.App (problem details errors), not keel.fastapi.FastAPI.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print only the files and what needs a hand.")
def fastapi(paths: tuple[Path, ...], check: bool, diff: bool, native: bool, quiet: bool) -> None:
    """Rewrite the fastapi/starlette imports of the files under PATHS to keel.

    Prints, file by file, what changed and what needs a hand (a name keel lacks, a private
    FastAPI import). Comments and formatting are kept; a second run changes nothing.
    """
    try:
        require_libcst()
    except ImportError as exc:
        raise click.ClickException(str(exc)) from None
    import libcst

    from keel.port._codemod import port_source

    would_change = 0
    hands = 0
    for path in _python_files(paths):
        source = path.read_text(encoding="utf-8")
        try:
            result = port_source(source, native=native)
        except libcst.ParserSyntaxError as exc:
            click.echo(f"{path}: skipped, not valid Python: {exc.message} (line {exc.raw_line})")
            continue
        if not result.changed and not result.hands:
            continue
        click.echo(f"{path}:")
        if not quiet:
            for line in result.changes:
                click.echo(f"  changed  {line}")
        for line in result.hands:
            click.echo(f"  by hand  {line}")
        hands += len(result.hands)
        if not result.changed:
            continue
        would_change += 1
        if diff:
            sys.stdout.writelines(
                difflib.unified_diff(
                    source.splitlines(keepends=True),
                    result.result.splitlines(keepends=True),
                    f"a/{path}",
                    f"b/{path}",
                )
            )
        elif not check:
            path.write_text(result.result, encoding="utf-8")
    verb = "would change" if (check or diff) else "changed"
    click.echo(f"{would_change} file(s) {verb}; {hands} thing(s) need a hand.")
    if check and would_change:
        sys.exit(1)
