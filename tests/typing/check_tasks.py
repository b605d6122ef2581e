"""keel.tasks: a task of an async function yields what its coroutine returns (mypy checks)."""

from __future__ import annotations

from typing import assert_type

from keel.tasks import task


@task
async def a(x: int) -> int:
    return x


@task(retries=2)
async def b(x: int) -> str:
    return str(x)


@task
def c(x: int) -> float:
    return 1.0


async def main() -> None:
    assert_type(await (await a.enqueue(1)).result(), int)
    assert_type(await (await b.enqueue(1)).result(), str)
    assert_type(await (await c.enqueue(1)).result(), float)
