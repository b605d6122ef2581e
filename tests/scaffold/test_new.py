"""``keel new``: the project it writes passes its own tests, migrates and serves.

The new project runs on this checkout's keel through the current virtualenv (no install):
its tests run with this interpreter, and its ``pyproject.toml`` puts the project on the path.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from keel.cli import main
from tests.live import free_port
from tests.settings import TEST_SECRET_KEY

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]
KEEL = str(BIN / "keel")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # the project's own plugins only
    env.update(extra)
    return env


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=_env(**env), capture_output=True, text=True, check=False, timeout=300
    )


def test_new_api_project_passes_its_tests_and_serves(tmp_path: Path) -> None:
    start = time.perf_counter()
    made = _run([KEEL, "new", "notesapp"], tmp_path)
    assert made.returncode == 0, made.stderr
    project = tmp_path / "notesapp"
    assert "./scripts/test" in made.stdout
    tested = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], project)
    elapsed = time.perf_counter() - start
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "4 passed" in tested.stdout
    print(f"\nkeel new to a passing test run: {elapsed:.1f} s")

    for name in ("README.md", ".env.example", "Dockerfile", "scripts/demo", "scripts/test"):
        assert (project / name).is_file(), name
    readme = (project / "README.md").read_text()
    assert "./scripts/demo" in readme and "./scripts/test" in readme
    assert 'CMD ["keel", "serve"' in (project / "Dockerfile").read_text()
    assert os.access(project / "scripts" / "test", os.X_OK)
    for script in ("demo", "test"):  # valid shell, installing this checkout's keel
        text = (project / "scripts" / script).read_text()
        assert f'"${{KEEL_SPEC:-{ROOT}}}"' in text
        assert _run(["sh", "-n", str(project / "scripts" / script)], project).returncode == 0
    assert len(list((project / "migrations" / "versions").glob("*_initial.py"))) == 1

    # migrate a database, then serve it as the Dockerfile does (production mode)
    url = f"sqlite+aiosqlite:///{tmp_path / 'prod.db'}"
    migrated = _run([KEEL, "db", "migrate"], project, KEEL_DATABASE_URL=url)
    assert migrated.returncode == 0, migrated.stderr
    checked = _run([KEEL, "db", "check", "--lint", "--strict"], project, KEEL_DATABASE_URL=url)
    assert "Database, migrations and models agree" in checked.stdout, checked.stderr
    port = free_port()
    with (tmp_path / "server.log").open("wb") as log:
        server = subprocess.Popen(
            [KEEL, "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=project,
            env=_env(
                KEEL_DATABASE_URL=url,
                KEEL_SECRET_KEY=TEST_SECRET_KEY,
                KEEL_ALLOWED_HOSTS="127.0.0.1",
                KEEL_DRAIN_TIMEOUT="2",
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "the new project's server did not start"
            time.sleep(0.05)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            assert client.get("/readyz").json()["checks"]["database"]["status"] == "ok"
            created = client.post("/notes", json={"text": "hello"})
            assert created.status_code == 201, created.text
            assert client.get("/notes").json()["items"][0]["text"] == "hello"
            assert client.get("/notes/settings/page-size").json() == {"page_size": 20}
    finally:
        server.terminate()
        assert server.wait(10) == 0


def test_new_fullstack_project_passes_its_tests(tmp_path: Path) -> None:
    made = _run([KEEL, "new", "site_app", "--template", "fullstack"], tmp_path)
    assert made.returncode == 0, made.stderr
    project = tmp_path / "site_app"
    assert (project / "site_app" / "templates" / "home.html").is_file()
    tested = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], project)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "5 passed" in tested.stdout


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("1notes", "is not a package name"),
        ("Notes", "is not a package name"),
        ("my-app", "is not a package name"),
        ("json", "would shadow"),
        ("class", "would shadow"),
    ],
)
def test_bad_names_are_refused(name: str, message: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["new", name, "--directory", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "x").exists()


def test_a_folder_with_files_is_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    result = CliRunner().invoke(main, ["new", "notes", "--directory", str(tmp_path)])
    assert result.exit_code == 1
    assert "exists and is not empty" in result.output
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
