"""The ``keel`` command: run, serve, routes (and battery commands via entry points)."""

from __future__ import annotations

import importlib
import os
import sys
from importlib.metadata import entry_points
from typing import Any

import click

__all__ = ["AppLoadError", "load_app", "main", "routes", "run", "serve"]


class AppLoadError(click.ClickException):
    """The ``module:attribute`` target could not be loaded."""


def load_app(target: str) -> Any:
    """Import ``module:attribute`` (attribute defaults to ``app``) with a clear error."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    module_name, _, attr = target.partition(":")
    attr = attr or "app"
    if not module_name:
        raise AppLoadError(f"Expected 'module:attribute', got {target!r} (e.g. 'main:app')")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise AppLoadError(
                f"Could not import module {module_name!r}: run keel from the folder that "
                f"contains it, or check the name. ({exc})"
            ) from exc
        raise
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AppLoadError(
                f"Module {module_name!r} has no attribute {attr!r}. "
                f"Point keel at your app object, e.g. '{module_name}:app'."
            ) from None
    return obj


class _Group(click.Group):
    """The root group; battery commands are added lazily from ``keel.cli`` entry points."""

    def _plugins(self) -> dict[str, Any]:
        found = {}
        for ep in entry_points(group="keel.cli"):
            found[ep.name] = ep
        return found

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._plugins()})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        cmd = super().get_command(ctx, name)
        if cmd is not None:
            return cmd
        ep = self._plugins().get(name)
        if ep is None:
            return None
        try:
            loaded = ep.load()
        except ImportError as exc:
            raise click.ClickException(f"The '{name}' command is not available: {exc}") from exc
        return loaded if isinstance(loaded, click.Command) else None


@click.group(cls=_Group)
@click.version_option(package_name="keel")
def main() -> None:
    """keel: run and manage keel applications."""


def _uvicorn_options(http: str) -> dict[str, Any]:
    opts: dict[str, Any] = {"http": http, "loop": "auto"}
    try:
        import uvloop  # noqa: F401

        opts["loop"] = "uvloop"
    except ImportError:
        pass
    return opts


@main.command()
@click.argument("target")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to bind.")
@click.option("--reload", is_flag=True, help="Restart when source files change.")
@click.option("--log-level", default="info", show_default=True)
def run(target: str, host: str, port: int, reload: bool, log_level: str) -> None:
    """Run TARGET (module:app) for development with uvicorn (httptools, uvloop)."""
    import uvicorn

    load_app(target)  # fail early with a clear message
    uvicorn.run(
        target,
        host=host,
        port=port,
        reload=reload,
        log_level=log_level,
        server_header=False,
        app_dir=os.getcwd(),
        **_uvicorn_options("httptools"),
    )


@main.command()
@click.argument("target")
@click.option("--host", default="0.0.0.0", show_default=True, help="Interface to bind.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to bind.")
@click.option("--workers", default=1, show_default=True, type=int, help="Worker processes.")
@click.option("--log-level", default="info", show_default=True)
@click.option("--proxy-headers/--no-proxy-headers", default=False, show_default=True)
def serve(
    target: str, host: str, port: int, workers: int, log_level: str, proxy_headers: bool
) -> None:
    """Serve TARGET (module:app) in production with uvicorn (httptools, uvloop)."""
    import uvicorn

    load_app(target)
    uvicorn.run(
        target,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=False,
        proxy_headers=proxy_headers,
        server_header=False,
        app_dir=os.getcwd(),
        **_uvicorn_options("httptools"),
    )


@main.command()
@click.argument("target")
def routes(target: str) -> None:
    """List the routes of TARGET (module:app): method, path, name, handler."""
    app = load_app(target)
    rows = [("METHODS", "PATH", "NAME", "HANDLER")]
    for route in getattr(app, "routes", []):
        handler = f"{route.endpoint.__module__}.{route.endpoint.__qualname__}"
        rows.append((",".join(route.methods), route.path, route.name, handler))
    for ws in getattr(app, "websocket_routes", []):
        rows.append(("WS", ws.path, ws.name, getattr(ws.endpoint, "__qualname__", "")))
    for m in getattr(app, "mounts", []):
        rows.append(("MOUNT", m.path, m.name or "", type(m.app).__name__))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        click.echo("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip())


if __name__ == "__main__":  # pragma: no cover
    main()
