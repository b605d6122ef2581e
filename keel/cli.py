"""The ``keel`` command: run, serve, routes (and battery commands via entry points).

Every command finds the app the same way (:func:`find_target`): the ``TARGET`` argument,
else the ``KEEL_APP`` environment variable, else ``[tool.keel] app`` in the nearest
``pyproject.toml``. A target is ``module:attribute`` (the attribute defaults to ``app``), or
``module:factory()`` for a function that builds the app. Every command fails the same way
(:class:`AppLoadError`): one short message naming the problem, exit status 2 when the target
is wrong and 1 when the app's own code fails, and a traceback only with ``keel --traceback``
or ``KEEL_DEBUG=1``.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
import tomllib
import traceback
import types
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import click

from keel.app import App

__all__ = [
    "AppCodeError",
    "AppLoadError",
    "AppTarget",
    "check",
    "collectstatic",
    "find_target",
    "load_app",
    "load_target",
    "main",
    "parse_target",
    "routes",
    "run",
    "serve",
]

_TRACEBACK = "keel.traceback"
_TRUE = frozenset({"1", "true", "yes", "on"})
_HOW = (
    'pass module:app, set KEEL_APP=module:app, or add [tool.keel] app = "module:app" '
    "to pyproject.toml"
)


class AppLoadError(click.ClickException):
    """The app could not be found: a one-line reason, no traceback, exit status 2 (usage)."""

    exit_code = 2


class AppCodeError(AppLoadError):
    """The app's own code failed while importing: its location, no traceback, exit status 1."""

    exit_code = 1


@dataclass(frozen=True)
class AppTarget:
    """Where the app lives: ``module:attribute`` or ``module:factory()``.

    Attributes:
        module: The dotted module name.
        attribute: The (possibly dotted) attribute path inside the module.
        factory: Whether the attribute is a function to call (without arguments).
        source: Where the target came from, for messages ("KEEL_APP", a pyproject.toml).
        folder: A folder to put on ``sys.path`` first (the pyproject.toml's), if any.
    """

    module: str
    attribute: str = "app"
    factory: bool = False
    source: str = "the command line"
    folder: Path | None = None

    @property
    def import_string(self) -> str:
        """``module:attribute`` (no parentheses), as uvicorn expects it."""
        return f"{self.module}:{self.attribute}"

    def __str__(self) -> str:
        return self.import_string + ("()" if self.factory else "")


def parse_target(
    text: str, source: str = "the command line", folder: Path | None = None
) -> AppTarget:
    """Parse ``module:attribute`` / ``module:factory()``.

    Raises:
        AppLoadError: when the text is not of that form.
    """
    module, _, attribute = text.strip().partition(":")
    attribute = attribute.strip() or "app"
    factory = attribute.endswith("()")
    attribute = attribute.removesuffix("()")
    names = [*module.split("."), *attribute.split(".")]
    if not module or not all(name.isidentifier() for name in names):
        raise AppLoadError(
            f"{text!r} (from {source}) is not an app target: expected 'module:attribute' "
            "such as 'main:app', or 'main:create_app()' for a factory"
        )
    return AppTarget(module, attribute, factory, source, folder)


def _pyproject_target(start: Path) -> AppTarget | None:
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if not candidate.is_file():
            continue
        try:
            with candidate.open("rb") as file:
                data = tomllib.load(file)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise AppLoadError(f"cannot read {candidate}: {exc}") from None
        value = data.get("tool", {}).get("keel", {}).get("app")
        if value is None:
            return None
        if not isinstance(value, str):
            raise AppLoadError(f"[tool.keel] app in {candidate} must be a string like 'main:app'")
        return parse_target(value, f"[tool.keel] app in {candidate}", folder)
    return None


def find_target(target: str | None = None, *, hint: str = _HOW) -> AppTarget:
    """Which app to load: ``target``, else ``KEEL_APP``, else ``[tool.keel] app``.

    Args:
        target: ``module:attribute`` given on the command line, or None.
        hint: How to name the app, for the message when none is configured.

    Raises:
        AppLoadError: (exit 2) when none is configured or the text is malformed.
    """
    if target:
        return parse_target(target)
    from_env = os.environ.get("KEEL_APP", "").strip()
    if from_env:
        return parse_target(from_env, "KEEL_APP")
    found = _pyproject_target(Path.cwd())
    if found is None:
        raise AppLoadError(f"which app? {hint}")
    return found


def _wants_traceback() -> bool:
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.meta.get(_TRACEBACK):
        return True
    return os.environ.get("KEEL_DEBUG", "").strip().lower() in _TRUE


def _shown_path(filename: str) -> str:
    try:
        return str(Path(filename).resolve().relative_to(Path.cwd()))
    except ValueError:
        return filename


def _location(exc: BaseException) -> str:
    """``file, line N`` plus the source line, for the innermost frame of the app's own code."""
    if isinstance(exc, SyntaxError) and exc.filename:
        where = f"{_shown_path(exc.filename)}, line {exc.lineno}"
        text = (exc.text or "").rstrip("\n")
        if not text.strip():
            return where
        stripped = text.lstrip()
        caret = ""
        if exc.offset:
            column = max(exc.offset - 1 - (len(text) - len(stripped)), 0)
            caret = "\n    " + " " * column + "^"
        return f"{where}:\n    {stripped}{caret}"
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if not frame.filename.startswith("<")
        and f"{os.sep}importlib{os.sep}" not in frame.filename
        and Path(frame.filename).resolve() != Path(__file__).resolve()
    ]
    if not frames:
        return ""
    frame = frames[-1]
    where = f"{_shown_path(frame.filename)}, line {frame.lineno}"
    return f"{where}:\n    {frame.line}" if frame.line else where


def _fail_in_app_code(target: AppTarget, exc: BaseException, doing: str) -> AppCodeError:
    if _wants_traceback():
        traceback.print_exception(exc)
    if isinstance(exc, SyntaxError):
        what = f"syntax error: {exc.msg}"
    else:
        what = f"{type(exc).__name__}: {exc}"
    where = _location(exc)
    message = f"cannot load {target} ({doing}): {what}"
    if where:
        message += f"\n  in {where}"
    if not _wants_traceback():
        message += "\n(keel --traceback ... or KEEL_DEBUG=1 shows the full traceback)"
    return AppCodeError(message)


def _describe(obj: object) -> str:
    if inspect.isclass(obj):
        return f"the class {obj.__qualname__}"
    if isinstance(obj, types.ModuleType):
        return f"the module {obj.__name__}"
    if inspect.isfunction(obj) or inspect.isbuiltin(obj):
        return f"the function {getattr(obj, '__qualname__', obj)}"
    text = repr(obj)
    text = text if len(text) <= 60 else text[:57] + "..."
    kind = type(obj).__qualname__
    article = "an" if kind[:1].lower() in "aeiou" else "a"
    return f"{article} {kind} object ({text})"


def _apps_in(module: types.ModuleType) -> list[str]:
    return sorted(name for name, value in vars(module).items() if isinstance(value, App))


def _import(target: AppTarget) -> types.ModuleType:
    for folder in (Path.cwd(), target.folder):
        if folder is not None and str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    try:
        return importlib.import_module(target.module)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (target.module == missing or target.module.startswith(missing + ".")):
            if _wants_traceback():
                traceback.print_exception(exc)
            raise AppLoadError(
                f"cannot import module {target.module!r} (from {target.source}): "
                f"there is no module {missing!r}. Run keel from the folder that contains "
                "it, or check the name."
            ) from None
        raise _fail_in_app_code(target, exc, f"importing {target.module}") from None
    except Exception as exc:
        raise _fail_in_app_code(target, exc, f"importing {target.module}") from None


def load_target(target: AppTarget | str | None = None, *, hint: str = _HOW) -> Any:
    """Import the object a target names (any object; :func:`load_app` checks it is an App).

    Args:
        target: An :class:`AppTarget`, ``module:attribute`` text, or None for
            ``KEEL_APP`` / ``[tool.keel] app``.
        hint: How to name the app, for the message when none is configured.

    Raises:
        AppLoadError: exit 2 when the target is wrong (no such module or attribute), exit 1
            when the app's code fails (syntax error, import error, exception at import).
    """
    if not isinstance(target, AppTarget):
        target = find_target(target, hint=hint)
    module = _import(target)
    obj: Any = module
    for part in target.attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            apps = _apps_in(module)
            suggestion = (
                f" Did you mean {', '.join(repr(f'{target.module}:{name}') for name in apps)}?"
                if apps
                else f" Point keel at your App object, e.g. '{target.module}:app'."
            )
            raise AppLoadError(
                f"module {target.module!r} has no attribute {target.attribute!r} "
                f"(from {target.source}).{suggestion}"
            ) from None
    if target.factory:
        if not callable(obj):
            raise AppLoadError(f"{target} names {_describe(obj)}, which cannot be called")
        try:
            obj = obj()
        except Exception as exc:
            raise _fail_in_app_code(target, exc, f"calling {target.attribute}()") from None
    return obj


def load_app(target: AppTarget | str | None = None) -> App:
    """Import the keel :class:`~keel.App` a target names.

    Args:
        target: An :class:`AppTarget`, ``module:attribute`` text, or None for
            ``KEEL_APP`` / ``[tool.keel] app``.

    Raises:
        AppLoadError: as :func:`load_target`, and (exit 2) when the object is not an App.
    """
    if not isinstance(target, AppTarget):
        target = find_target(target)
    obj = load_target(target)
    if isinstance(obj, App):
        return obj
    message = f"{target} is {_describe(obj)}, not a keel App."
    if inspect.isfunction(obj):
        message += f" If it builds the app, write '{target}()'."
    else:
        apps = [f"'{target.module}:{name}'" for name in _apps_in(sys.modules[target.module])]
        if apps:
            message += f" Did you mean {', '.join(apps)}?"
    raise AppLoadError(message)


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
@click.option(
    "--traceback",
    is_flag=True,
    help="Show the full traceback when the app cannot be loaded (also: KEEL_DEBUG=1).",
)
@click.pass_context
def main(ctx: click.Context, traceback: bool) -> None:
    """keel: run and manage keel applications.

    Commands find the app from their TARGET argument (module:app, or module:factory()),
    else the KEEL_APP environment variable, else [tool.keel] app in pyproject.toml.
    """
    ctx.meta[_TRACEBACK] = traceback


def _uvicorn_options(app: App) -> dict[str, Any]:
    """uvicorn with httptools (never h11), uvloop when installed and keel's head timeout,
    the app's websocket limits and its drain timeout."""
    from keel.server import uvicorn_options, websocket_options

    return {**uvicorn_options(), **websocket_options(app.settings)}


_TARGET = click.argument("target", required=False)


def _refuse_unsafe(app: App) -> None:
    """Stop before the server starts when the app's production settings are unsafe."""
    from keel._defaults import startup_problems

    problems = startup_problems(app.settings)
    if problems:
        raise click.ClickException(
            "The app's production settings are not safe to serve:\n  - "
            + "\n  - ".join(problems)
            + "\n(keel check --deploy lists every finding)"
        )


@main.command()
@_TARGET
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to bind.")
@click.option("--reload", is_flag=True, help="Restart when source files change.")
@click.option("--log-level", default="info", show_default=True)
@click.option("--debug", is_flag=True, help="Tracebacks in error answers (sets KEEL_DEBUG=1).")
@click.option(
    "--detect-blocking/--no-detect-blocking",
    default=None,
    help="Log handlers that block the event loop (default: on; KEEL_DETECT_BLOCKING).",
)
def run(
    target: str | None,
    host: str,
    port: int,
    reload: bool,
    log_level: str,
    debug: bool,
    detect_blocking: bool | None,
) -> None:
    """Run TARGET (module:app) for development with uvicorn (httptools, uvloop).

    The app gets development defaults unless its settings say otherwise: it answers to
    localhost names only and signs with a per-process key. Handlers that block the event
    loop for over KEEL_BLOCKING_THRESHOLD seconds (0.1) are logged with their stack.
    """
    import uvicorn

    if debug:
        os.environ["KEEL_DEBUG"] = "1"
    if detect_blocking is not None:
        os.environ["KEEL_DETECT_BLOCKING"] = "1" if detect_blocking else "0"
    else:
        os.environ.setdefault("KEEL_DETECT_BLOCKING", "1")
    # keel.tasks runs jobs inside the development server unless the setting says otherwise
    os.environ.setdefault("KEEL_TASKS_WORKER_IN_PROCESS", "1")
    where = find_target(target)
    app = load_app(where)  # fails here, with a clear message, before any server starts
    uvicorn.run(
        where.import_string if reload else app,
        factory=where.factory and reload,
        host=host,
        port=port,
        reload=reload,
        log_level=log_level,
        proxy_headers=False,  # X-Forwarded-* are believed from KEEL_TRUSTED_PROXIES only
        server_header=False,
        app_dir=str(where.folder or Path.cwd()),
        **_uvicorn_options(app),
    )


@main.command()
@_TARGET
@click.option("--host", default="0.0.0.0", show_default=True, help="Interface to bind.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to bind.")
@click.option("--workers", default=1, show_default=True, type=int, help="Worker processes.")
@click.option("--log-level", default="info", show_default=True)
@click.option("--proxy-headers/--no-proxy-headers", default=False, show_default=True)
def serve(
    target: str | None, host: str, port: int, workers: int, log_level: str, proxy_headers: bool
) -> None:
    """Serve TARGET (module:app) in production with uvicorn (httptools, uvloop).

    Production mode (KEEL_DEBUG=false unless set): the app refuses to start without a
    strong KEEL_SECRET_KEY and KEEL_ALLOWED_HOSTS. On SIGTERM it drains: /readyz answers
    503, in-flight requests get KEEL_DRAIN_TIMEOUT seconds, shutdown hooks run, exit 0.
    """
    import uvicorn

    os.environ.setdefault("KEEL_DEBUG", "false")
    where = find_target(target)
    app = load_app(where)
    _refuse_unsafe(app)
    by_name = workers > 1  # worker processes import the app themselves
    options: dict[str, Any] = dict(
        factory=where.factory and by_name,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=False,
        proxy_headers=proxy_headers,
        server_header=False,
        **_uvicorn_options(app),  # timeout_graceful_shutdown is the drain timeout
    )
    if by_name:  # uvicorn's supervisor: each worker drains with timeout_graceful_shutdown
        uvicorn.run(where.import_string, app_dir=str(where.folder or Path.cwd()), **options)
        return
    from keel.server import DrainingServer

    config = uvicorn.Config(app, **options)
    server = DrainingServer(config, drain_delay=app.settings.drain_delay)
    server.run()
    if not server.started:
        sys.exit(3)  # uvicorn's exit status when the app fails to start


@main.command()
@_TARGET
@click.option(
    "--deploy", is_flag=True, help="Check the settings as a production deployment instead."
)
def check(target: str | None, deploy: bool) -> None:
    """Run the start-up checks of TARGET (module:app) now; exit 1 if any fails.

    Without --deploy: the routes, handler signatures and dependency graphs compile, the
    database is migrated and matches the models, readiness checks pass. With --deploy:
    unsafe production settings; settings come from the environment and .env as when
    serving (KEEL_DEBUG=false unless set, as keel serve does).
    """
    import asyncio

    from keel.checks import deploy_findings, startup_findings

    if not deploy:
        findings = asyncio.run(startup_findings(load_app(target)))
        for finding in findings:
            click.echo(str(finding), err=finding.level == "error")
        failed = sum(f.level == "error" for f in findings)
        if failed:
            raise click.ClickException(f"{failed} start-up check(s) failed")
        click.echo("The start-up checks passed.")
        return
    os.environ.setdefault("KEEL_DEBUG", "false")  # the mode keel serve runs the app in
    app = load_app(target)
    findings = deploy_findings(app)
    for finding in findings:
        click.echo(str(finding), err=finding.level == "error")
    errors = sum(f.level == "error" for f in findings)
    if errors:
        raise click.ClickException(f"{errors} unsafe setting(s) for a deployment")
    click.echo("The deployment checks passed.")


@main.command()
@_TARGET
def routes(target: str | None) -> None:
    """List the routes of TARGET (module:app): method, path, name, handler."""
    app = load_app(target)
    rows = [("METHODS", "PATH", "NAME", "HANDLER")]
    for route in app.routes:
        handler = f"{route.endpoint.__module__}.{route.endpoint.__qualname__}"
        rows.append((",".join(route.methods), route.path, route.name, handler))
    for ws in app.websocket_routes:
        rows.append(("WS", ws.path, ws.name, getattr(ws.endpoint, "__qualname__", "")))
    for m in app.mounts:
        rows.append(("MOUNT", m.path, m.name or "", type(m.app).__name__))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        click.echo("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip())


@main.command()
@click.argument("sources", nargs=-1, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write the files and staticfiles.json into.",
)
@click.option("--app", "target", default=None, help="The app (module:app) whose folders to use.")
def collectstatic(sources: tuple[Path, ...], output: Path, target: str | None) -> None:
    """Copy static files into OUTPUT, fingerprinted, with a staticfiles.json manifest.

    SOURCES are the folders to collect; without them, the folders of the app's StaticFiles
    mounts (app.static(...)), found as every command finds the app.
    """
    from keel.staticfiles import StaticFiles, collect_static

    folders = list(sources)
    if not folders:
        app = load_app(target)
        resolved = output.resolve()
        folders = [
            m.app.root
            for m in app.mounts
            if isinstance(m.app, StaticFiles) and m.app.root != resolved
        ]
        if not folders:
            raise click.UsageError(
                "no folders to collect: name them (keel collectstatic static -o OUTPUT) or "
                'serve them in the app (app.static("/static", "static"))'
            )
    try:
        paths = collect_static(folders, output)
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    shown = ", ".join(str(f) for f in folders)
    files = f"{len(paths)} file{'' if len(paths) == 1 else 's'}"
    click.echo(f"Collected {files} from {shown} into {output} (manifest staticfiles.json)")


if __name__ == "__main__":  # pragma: no cover
    main()
