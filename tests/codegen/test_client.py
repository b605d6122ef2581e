"""``keel client``: the generated client type-checks with ``mypy --strict`` and works against
the CRUD example served on a real socket (sync and async), problems raised as typed errors."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.live import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ModuleType]:
    folder = tmp_path_factory.mktemp("client")
    out = folder / "crud_client.py"
    # a fresh process: the example's models must not meet other tests' models of the same
    # names in keel's declarative registry
    result = subprocess.run(
        [str(BIN / "keel"), "client", "examples.crud.app:app", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    spec = importlib.util.spec_from_file_location("crud_client", out)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["crud_client"] = module
    spec.loader.exec_module(module)
    return out, module


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("crud")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    env["KEEL_DATABASE_URL"] = f"sqlite+aiosqlite:///{folder / 'crud.db'}"
    migrate = subprocess.run(
        [str(BIN / "keel"), "db", "--app", "examples.crud.app:app", "migrate"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert migrate.returncode == 0, migrate.stderr
    port = free_port()
    with (folder / "server.log").open("wb") as log:
        proc = subprocess.Popen(
            [str(BIN / "keel"), "run", "examples.crud.app:app", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (folder / "server.log").read_text()
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def test_generated_client_passes_mypy_strict(generated: tuple[Path, ModuleType]) -> None:
    path, _ = generated
    usage = path.with_name("use_client.py")
    usage.write_text(
        "from crud_client import Client, NotFoundError, BookRead\n"
        "def titles(client: Client) -> list[str]:\n"
        "    page = client.list_books(limit=5, genre='novel')\n"
        "    try:\n"
        "        one: BookRead = client.get_book(1)\n"
        "    except NotFoundError as error:\n"
        "        return [str(error.detail)]\n"
        "    return [one['title'], *(b['title'] for b in page['items'])]\n"
    )
    wrong = usage.with_name("wrong_use.py")
    wrong.write_text(
        "from crud_client import Client\n"
        "def bad(client: Client) -> int:\n"
        "    return client.get_book('x')['title']\n"
    )
    # one run: the client and its right use are clean, the wrong use is refused
    checked = subprocess.run(
        [str(BIN / "mypy"), "--strict", "--no-incremental", str(path), str(usage), str(wrong)],
        cwd=path.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    errors = [line for line in checked.stdout.splitlines() if ": error:" in line]
    assert errors, checked.stdout
    assert all(line.startswith("wrong_use.py:") for line in errors), checked.stdout
    assert 'Argument 1 to "get_book" of "Client" has incompatible type "str"' in checked.stdout
    assert "Incompatible return value type" in checked.stdout


def test_sync_client_against_the_running_app(
    generated: tuple[Path, ModuleType], server: str
) -> None:
    _, api = generated
    with api.Client(server) as client:
        author = client.create_author({"name": "Ursula K. Le Guin"})
        assert author["name"] == "Ursula K. Le Guin"
        book = client.create_book(
            {"title": "The Dispossessed", "author_id": author["id"], "genre": "novel"}
        )
        assert client.get_book(book["id"])["title"] == "The Dispossessed"
        page = client.list_books(author_id=author["id"], genre="novel")
        assert [b["title"] for b in page["items"]] == ["The Dispossessed"]
        updated = client.update_book(book["id"], {"pages": 387}, if_match=str(book["version"]))
        assert updated["pages"] == 387
        client.delete_book(book["id"])

        with pytest.raises(api.NotFoundError) as missing:
            client.get_book(book["id"])
        assert missing.value.status == 404
        assert missing.value.response.headers["content-type"] == "application/problem+json"
        with pytest.raises(api.UnprocessableEntityError) as invalid:
            client.create_author({"name": "   "})
        assert invalid.value.errors[0]["loc"] == ["body", "name"]
        with pytest.raises(api.ConflictError) as duplicate:
            client.create_author({"name": "Ursula K. Le Guin"})
        assert isinstance(duplicate.value, api.ClientError)
        assert duplicate.value.title == "Already exists"


def test_async_client_against_the_running_app(
    generated: tuple[Path, ModuleType], server: str
) -> None:
    _, api = generated

    async def go() -> list[Any]:
        async with api.AsyncClient(server) as client:
            made = await asyncio.gather(
                *(client.create_author({"name": f"Writer {i}"}) for i in range(3))
            )
            listed = await client.list_authors(name="Writer", limit=10)
            with pytest.raises(api.NotFoundError):
                await client.get_author(10_000)
            return [made, listed]

    made, listed = asyncio.run(go())
    assert sorted(a["name"] for a in made) == ["Writer 0", "Writer 1", "Writer 2"]
    assert {a["name"] for a in listed["items"]} >= {"Writer 0", "Writer 1", "Writer 2"}


def test_every_example_app_generates_a_client_that_compiles(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from keel.cli import load_app\n"
        "from keel.codegen import generate_client\n"
        "for i, target in enumerate(sys.argv[2:]):\n"
        "    Path(sys.argv[1], f'client{i}.py').write_text(generate_client(load_app(target)))\n"
    )
    targets = ["examples.crud.app:app", "examples.hello:app", "examples.notes.app:app"]
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path), *targets],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for i in range(len(targets)):
        source = (tmp_path / f"client{i}.py").read_text()
        compile(source, "client.py", "exec")
        assert "class Client:" in source and "class AsyncClient:" in source
