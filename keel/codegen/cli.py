"""``keel client TARGET --out client.py``: write a typed client for the app."""

from __future__ import annotations

from pathlib import Path

import click

from keel.cli import load_app
from keel.codegen import generate_client

__all__ = ["client"]


@click.command()
@click.argument("target", required=False)
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The module to write (default: print it).",
)
def client(target: str | None, out: Path | None) -> None:
    """Write a typed httpx client (sync and async) for TARGET (module:app)."""
    source = generate_client(load_app(target))
    if out is None:
        click.echo(source, nl=False)
        return
    out.write_text(source, encoding="utf-8")
    click.echo(f"Wrote {out}")
