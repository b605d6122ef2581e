"""``keel openapi module:app [--yaml] [-o FILE]``: print or write the OpenAPI document."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import click

from keel.cli import load_app

__all__ = ["openapi"]


@click.command()
@click.argument("target", required=False)
@click.option("--yaml", "as_yaml", is_flag=True, help="Write YAML instead of JSON (needs PyYAML).")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write to this file instead of standard output.",
)
def openapi(target: str | None, as_yaml: bool, output: Path | None) -> None:
    """Print the OpenAPI document of TARGET (module:app; default: KEEL_APP or pyproject.toml)."""
    app = load_app(target)
    document = app.openapi()
    if as_yaml:
        try:
            yaml = importlib.import_module("yaml")
        except ImportError:
            raise click.ClickException(
                "--yaml needs PyYAML: pip install pyyaml (or keel[dev])"
            ) from None
        text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    else:
        text = json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"Wrote {output}", err=True)
