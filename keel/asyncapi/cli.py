"""``keel asyncapi module:app [-o FILE]``: print or write the AsyncAPI document."""

from __future__ import annotations

import json
from pathlib import Path

import click

from keel.cli import load_app

__all__ = ["asyncapi"]


@click.command()
@click.argument("target", required=False)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write to this file instead of standard output.",
)
def asyncapi(target: str | None, output: Path | None) -> None:
    """Print the AsyncAPI 3.0 document of TARGET's websocket and event-stream routes."""
    app = load_app(target)
    text = json.dumps(app.asyncapi(), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"Wrote {output}", err=True)
