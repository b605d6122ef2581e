"""``keel shell``: an interactive Python shell with the app loaded (an entry-point command).

The namespace holds ``app``, ``settings``, and when the app has a ``keel.db`` database
(``app.state.database``): ``db``, ``session`` (an ``AsyncSession``) and every model class
of its metadata by name. ``await`` works at the prompt (IPython's own, or keel's console
over the standard library's ``code`` module when IPython is not installed); ``run(coro)``
runs a coroutine from anywhere.
"""

from __future__ import annotations

import ast
import asyncio
import code
import inspect
import threading
import types
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

import click

from keel.app import App
from keel.cli import load_app

__all__ = ["AsyncConsole", "shell", "shell_namespace"]

T = TypeVar("T")


class _LoopThread:
    """An event loop in a daemon thread: the shell's awaits run there."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(2)


class AsyncConsole(code.InteractiveConsole):
    """The standard console, with ``await`` allowed at the prompt (run on ``loop``)."""

    def __init__(self, namespace: dict[str, Any], runner: _LoopThread) -> None:
        super().__init__(namespace)
        self.runner = runner
        self.compile.compiler.flags |= ast.PyCF_ALLOW_TOP_LEVEL_AWAIT

    def runcode(self, code_object: types.CodeType) -> None:
        """Run a compiled line; a line with ``await`` runs as a coroutine on the loop."""
        try:
            if code_object.co_flags & inspect.CO_COROUTINE:
                function = types.FunctionType(code_object, self.locals)
                self.runner.run(function())
            else:
                exec(code_object, self.locals)
        except SystemExit:
            raise
        except BaseException:
            self.showtraceback()


def _models(metadata: Any) -> dict[str, type]:
    from sqlalchemy.orm import DeclarativeBase

    found: dict[str, type] = {}
    pending: list[type] = [DeclarativeBase]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        table = getattr(cls, "__table__", None)
        if table is not None and getattr(table, "metadata", None) is metadata:
            found.setdefault(cls.__name__, cls)
    return found


async def shell_namespace(app: App) -> dict[str, Any]:
    """What ``keel shell`` puts in the namespace (connects the database, if any)."""
    namespace: dict[str, Any] = {"app": app, "settings": app.settings}
    database = getattr(app.state, "database", None)
    if database is not None and hasattr(type(database), "sessionmaker"):
        await database.connect()
        namespace["db"] = database
        namespace["session"] = database.sessionmaker()
        namespace.update(_models(database.metadata))
    return namespace


def _ipython() -> Any:
    try:
        from IPython import start_ipython  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    return start_ipython


@click.command()
@click.argument("target", required=False)
@click.option("--plain", is_flag=True, help="The standard console even if IPython is installed.")
def shell(target: str | None, plain: bool) -> None:
    """An interactive shell with TARGET (module:app) loaded: app, settings, db, session,
    models; await works at the prompt."""
    app = load_app(target)
    runner = _LoopThread()
    try:
        namespace = runner.run(shell_namespace(app))
        namespace["run"] = runner.run
        names = ", ".join(sorted(k for k in namespace if k != "__builtins__"))
        banner = f"keel shell: {names}. `await` works at the prompt."
        start_ipython = None if plain else _ipython()
        if start_ipython is None:
            AsyncConsole(namespace, runner).interact(banner=banner, exitmsg="")
        else:
            click.echo(banner)
            start_ipython(argv=[], user_ns=namespace)
        session = namespace.get("session")
        if session is not None:
            runner.run(session.close())
        database = namespace.get("db")
        if database is not None:
            runner.run(database.disconnect())
    finally:
        runner.close()
