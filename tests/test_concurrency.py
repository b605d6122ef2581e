from __future__ import annotations

import contextvars
import threading

from keel import App
from keel.concurrency import run_in_threadpool
from keel.testing import TestClient

who: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="nobody")


def blocking(x: int, *, y: int) -> tuple[int, str, bool]:
    return x + y, who.get(), threading.current_thread() is threading.main_thread()


def test_run_in_threadpool_runs_off_the_loop_with_context() -> None:
    app = App()

    @app.get("/")
    async def index() -> dict[str, object]:
        who.set("alice")
        loop_thread = threading.current_thread()
        total, seen, _ = await run_in_threadpool(blocking, 1, y=2)
        other = await run_in_threadpool(threading.current_thread)
        return {"total": total, "who": seen, "other_thread": other is not loop_thread}

    assert TestClient(app).get("/").json() == {"total": 3, "who": "alice", "other_thread": True}


def test_run_sync_is_public() -> None:
    import keel
    from keel import run_sync
    from keel.concurrency import run_sync as same

    assert run_sync is same
    assert "run_sync" in keel.__all__
    app = App()

    @app.get("/")
    async def index() -> dict[str, object]:
        who.set("bob")
        total, seen, on_main = await run_sync(blocking, 2, y=3)
        return {"total": total, "who": seen, "main": on_main}

    assert TestClient(app).get("/").json() == {"total": 5, "who": "bob", "main": False}
