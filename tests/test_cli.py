"""The keel command: one real server on a real socket, and one way to find and load the app."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result

from keel.cli import main
from tests.live import free_port
from tests.settings import TEST_SECRET_KEY

ROOT = Path(__file__).resolve().parent.parent
KEEL = str(Path(sys.executable).parent / "keel")


def wait_for(port: int, proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"server exited early: {proc.stdout.read() if proc.stdout else ''!r}"
            )
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError("server did not start")


def stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(10)
    if proc.stdout is not None:
        proc.stdout.close()


def test_keel_run_serves_on_a_real_socket() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [KEEL, "run", "examples.hello:app", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for(port, proc)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            r = client.get("/")
            assert r.status_code == 200
            assert r.json() == {"hello": "world"}
            assert "server" not in r.headers  # no server banner
            missing = client.get("/nope")
            assert missing.status_code == 404
            assert missing.headers["content-type"] == "application/problem+json"
            # request smuggling: both Transfer-Encoding and Content-Length is rejected (httptools)
        with socket.create_connection(("127.0.0.1", port)) as raw:
            raw.sendall(
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
            )
            raw.settimeout(5)
            data = b""
            try:
                while chunk := raw.recv(65536):
                    data += chunk
            except TimeoutError:
                pass
        assert data.count(b"HTTP/1.1") <= 1
        assert b"404" not in data
    finally:
        stop(proc)


def test_routes_command() -> None:
    result = CliRunner().invoke(main, ["routes", "examples.demo:app"])
    assert result.exit_code == 0, result.output
    assert "/notes/{note_id}" in result.output
    assert "examples.demo.get_note" in result.output


# --- one loader, one way to fail ------------------------------------------------------------

GOOD = """
    from keel import App

    app = App()


    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}


    def create_app() -> App:
        built = App()

        @built.get("/built")
        async def built_route() -> dict[str, bool]:
            return {"built": True}

        return built


    def not_an_app() -> int:
        return 1


    x = 42
"""
SYNTAX_ERROR = """
    from keel import App

    app = App()
    def broken(:
        pass
"""
IMPORT_ERROR = """
    from keel import App

    import keel_missing_dependency_xyz

    app = App()
"""
RAISES = """
    from keel import App

    app = App()
    raise RuntimeError("DATABASE_URL is not set")
"""


@dataclass
class Project:
    """A folder with app modules of unique names (so sys.modules never mixes tests)."""

    path: Path
    prefix: str

    def module(self, name: str, source: str) -> str:
        module = f"{self.prefix}_{name}"
        (self.path / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        return module


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    prefix = f"cliapp_{uuid.uuid4().hex[:8]}"
    yield Project(tmp_path, prefix)
    for name in [name for name in sys.modules if name.startswith(prefix)]:
        del sys.modules[name]


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def assert_short_failure(result: Result, exit_code: int, *needles: str) -> None:
    assert result.exit_code == exit_code, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) <= 6, result.output
    for needle in needles:
        assert needle in result.output, result.output


@pytest.mark.parametrize("command", ["routes", "openapi"])
def test_not_an_app_is_a_usage_error(project: Project, command: str) -> None:
    good = project.module("good", GOOD)
    assert_short_failure(
        invoke(command, f"{good}:x"), 2, f"{good}:x is an int object (42), not a keel App"
    )
    assert_short_failure(
        invoke(command, f"{good}:not_an_app"),
        2,
        "is the function not_an_app, not a keel App",
        f"write '{good}:not_an_app()'",
    )
    assert_short_failure(invoke(command, f"{good}:not_an_app()"), 2, "(1), not a keel App")


def test_missing_module_or_attribute_is_a_usage_error(project: Project) -> None:
    assert_short_failure(
        invoke("routes", "no_such_module_xyz:app"),
        2,
        "cannot import module 'no_such_module_xyz'",
        "there is no module 'no_such_module_xyz'",
    )
    good = project.module("good", GOOD)
    assert_short_failure(
        invoke("routes", f"{good}:nope"),
        2,
        f"module '{good}' has no attribute 'nope'",
        f"Did you mean '{good}:app'?",
    )
    assert_short_failure(invoke("routes", f"{good}.sub:app"), 2, f"no module '{good}.sub'")
    assert_short_failure(invoke("routes", "a b:app"), 2, "is not an app target")


def test_syntax_error_names_the_file_line_and_code(project: Project) -> None:
    broken = project.module("broken", SYNTAX_ERROR)
    result = invoke("routes", f"{broken}:app")
    assert_short_failure(
        result,
        1,
        "syntax error",
        f"{broken}.py, line 5",
        "def broken(:",
        "           ^",
        "keel --traceback",
    )


def test_import_error_inside_the_app_names_its_location(project: Project) -> None:
    app = project.module("imports", IMPORT_ERROR)
    assert_short_failure(
        invoke("routes", f"{app}:app"),
        1,
        "ModuleNotFoundError: No module named 'keel_missing_dependency_xyz'",
        f"{app}.py, line 4",
        "import keel_missing_dependency_xyz",
    )
    raises = project.module("raises", RAISES)
    assert_short_failure(
        invoke("openapi", f"{raises}:app"),
        1,
        "RuntimeError: DATABASE_URL is not set",
        f"{raises}.py, line 5",
    )


def test_traceback_on_request(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    app = project.module("imports", IMPORT_ERROR)
    result = invoke("--traceback", "routes", f"{app}:app")
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.output
    assert "No module named 'keel_missing_dependency_xyz'" in result.output
    monkeypatch.setenv("KEEL_DEBUG", "1")
    assert "Traceback (most recent call last)" in invoke("routes", f"{app}:app").output


def test_factory_targets(project: Project) -> None:
    good = project.module("good", GOOD)
    result = invoke("routes", f"{good}:create_app()")
    assert result.exit_code == 0, result.output
    assert "/built" in result.output
    assert "/ping" not in result.output


def test_every_command_reads_keel_app(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    good = project.module("good", GOOD)
    assert_short_failure(invoke("routes"), 2, "which app?", "KEEL_APP", "[tool.keel] app")
    monkeypatch.setenv("KEEL_APP", f"{good}:app")
    result = invoke("routes")
    assert result.exit_code == 0, result.output
    assert "/ping" in result.output
    assert "/ping" in invoke("openapi").output
    # the argument wins over the environment
    assert "/built" in invoke("routes", f"{good}:create_app()").output
    monkeypatch.setenv("KEEL_APP", f"{good}:x")
    assert_short_failure(invoke("routes"), 2, "not a keel App")


def test_every_command_reads_pyproject(project: Project) -> None:
    good = project.module("good", GOOD)
    (project.path / "pyproject.toml").write_text(f'[tool.keel]\napp = "{good}:create_app()"\n')
    (project.path / "sub").mkdir()
    os.chdir(project.path / "sub")  # the nearest pyproject.toml is the parent folder's
    result = invoke("routes")
    assert result.exit_code == 0, result.output
    assert "/built" in result.output
    assert "/built" in invoke("openapi").output
    (project.path / "pyproject.toml").write_text("[tool.keel\n")
    assert_short_failure(invoke("routes"), 2, "cannot read", "pyproject.toml")
    (project.path / "pyproject.toml").write_text('[tool.keel]\napp = "a-b:app"\n')
    assert_short_failure(invoke("routes"), 2, "'a-b:app' (from [tool.keel] app in")


def test_keel_db_loads_the_app_the_same_way(project: Project) -> None:
    broken = project.module("broken", SYNTAX_ERROR)
    assert_short_failure(
        invoke("db", "--app", f"{broken}:app", "current"), 1, "syntax error", "line 5"
    )
    good = project.module("good", GOOD)
    assert_short_failure(invoke("db", "--app", f"{good}:app", "current"), 2, "init_app")


def run_keel(cwd: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, float]:
    started = time.monotonic()
    port = free_port()
    proc = subprocess.run(
        [KEEL, "run", *args, "--port", str(port)],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert "Uvicorn running" not in proc.stdout + proc.stderr
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0
    return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started


def test_keel_run_fails_before_starting_the_server(project: Project) -> None:
    good = project.module("good", GOOD)
    code, output, seconds = run_keel(project.path, f"{good}:x")
    assert code == 2, output
    assert "not a keel App" in output
    assert "Traceback" not in output
    assert seconds < 15
    broken = project.module("broken", SYNTAX_ERROR)
    code, output, _ = run_keel(project.path, env={"KEEL_APP": f"{broken}:app"})
    assert code == 1, output
    assert f"{broken}.py, line 5" in output
    assert "def broken(:" in output
    assert "Traceback" not in output
    assert len(output.strip().splitlines()) <= 6, output


def test_keel_run_reads_pyproject(project: Project) -> None:
    good = project.module("good", GOOD)
    (project.path / "pyproject.toml").write_text(f'[tool.keel]\napp = "{good}:app"\n')
    port = free_port()
    proc = subprocess.Popen(
        [KEEL, "run", "--port", str(port), "--log-level", "warning"],
        cwd=project.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for(port, proc)
        assert httpx.get(f"http://127.0.0.1:{port}/ping").json() == {"pong": "yes"}
    finally:
        stop(proc)


def test_keel_run_cuts_a_client_that_trickles_its_request_head() -> None:
    """uvicorn alone keeps such a client for as long as it trickles; keel's server closes it
    after ``KEEL_HEADER_TIMEOUT`` seconds with a 408."""
    from tests.test_server_protocol import trickle_until_closed

    port = free_port()
    proc = subprocess.Popen(
        [KEEL, "run", "examples.hello:app", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT,
        env={**os.environ, "KEEL_HEADER_TIMEOUT": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for(port, proc)
        with socket.create_connection(("127.0.0.1", port)) as sock:
            elapsed, received = trickle_until_closed(sock, b"GET / HTTP/1.1\r\nHo", every=0.1)
        assert elapsed < 5
        assert received.startswith(b"HTTP/1.1 408 ")
    finally:
        stop(proc)


# --- production: keel serve and keel check --deploy ------------------------------------------


def test_keel_serve_refuses_unsafe_production_settings(project: Project) -> None:
    good = project.module("good", GOOD)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    port = free_port()
    proc = subprocess.run(
        [KEEL, "serve", f"{good}:app", "--port", str(port)],
        cwd=project.path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert "KEEL_SECRET_KEY" in output and "KEEL_ALLOWED_HOSTS" in output
    assert "Traceback" not in output and "Uvicorn running" not in output


def test_keel_serve_runs_safe_production_settings(project: Project) -> None:
    good = project.module("good", GOOD)
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("KEEL_")},
        "KEEL_SECRET_KEY": TEST_SECRET_KEY,
        "KEEL_ALLOWED_HOSTS": "127.0.0.1",
    }
    proc = subprocess.Popen(
        [KEEL, "serve", f"{good}:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=project.path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for(port, proc)
        response = httpx.get(f"http://127.0.0.1:{port}/ping")
        assert response.json() == {"pong": "yes"}
        assert response.headers["x-frame-options"] == "DENY"
        refused = httpx.get(f"http://127.0.0.1:{port}/ping", headers={"Host": "localhost"})
        assert refused.status_code == 400  # production: only the configured hosts
    finally:
        stop(proc)


UNSAFE_ENV = {"KEEL_DEBUG": "true", "KEEL_SECRET_KEY": "changeme", "KEEL_ALLOWED_HOSTS": "*"}
SAFE_ENV = {
    "KEEL_DEBUG": "false",
    "KEEL_SECRET_KEY": TEST_SECRET_KEY,
    "KEEL_ALLOWED_HOSTS": "example.com",
    "KEEL_TRUSTED_PROXIES": "10.0.0.1",
    "KEEL_DOCS_PUBLIC": "false",
}


def test_check_deploy_fails_on_an_unsafe_config(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = project.module("good", GOOD)
    for name, value in UNSAFE_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("KEEL_CSRF", "false")
    monkeypatch.setenv("KEEL_SESSION_COOKIE_SECURE", "false")
    result = invoke("check", "--deploy", f"{good}:app")
    assert result.exit_code == 1, result.output
    for name in (
        "KEEL_DEBUG",
        "KEEL_SECRET_KEY",
        "KEEL_ALLOWED_HOSTS",
        "KEEL_CSRF",
        "KEEL_SESSION_COOKIE_SECURE",
    ):
        assert f"ERROR: {name}" in result.output, name
    assert "unsafe setting" in result.output


def test_check_deploy_passes_on_a_safe_config(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = project.module("good", GOOD)
    for name, value in SAFE_ENV.items():
        monkeypatch.setenv(name, value)
    result = invoke("check", "--deploy", f"{good}:app")
    assert result.exit_code == 0, result.output
    assert "ERROR" not in result.output
    assert "passed" in result.output


def test_check_without_deploy_runs_the_startup_checks(project: Project) -> None:
    good = project.module("good", GOOD)
    result = invoke("check", f"{good}:app")
    assert result.exit_code == 0, result.output
    assert "OK: routes:" in result.output
    assert "The start-up checks passed." in result.output


def test_collectstatic_from_folders_and_from_the_app(project: Project) -> None:
    static = project.path / "static"
    (static / "css").mkdir(parents=True)
    (static / "css" / "app.css").write_text("body{}")
    (static / "logo.svg").write_text("<svg/>")
    result = invoke("collectstatic", "static", "--output", "build/static")
    assert result.exit_code == 0, result.output
    assert "Collected 2 files from" in result.output
    manifest = json.loads((project.path / "build/static/staticfiles.json").read_text())
    hashed = manifest["paths"]["css/app.css"]
    assert (project.path / "build/static" / hashed).read_text() == "body{}"

    app = project.module(
        "site", 'from keel import App\napp = App()\napp.static("/static", "static")\n'
    )
    result = invoke("collectstatic", "--app", f"{app}:app", "-o", "out")
    assert result.exit_code == 0, result.output
    assert (project.path / "out" / "staticfiles.json").is_file()

    bare = project.module("bare", "from keel import App\napp = App()\n")
    assert_short_failure(
        invoke("collectstatic", "--app", f"{bare}:app", "-o", "x"), 2, "no folders to collect"
    )
    assert_short_failure(invoke("collectstatic", "static", "-o", "static/out"), 1, "overlap")
    assert_short_failure(invoke("collectstatic", "missing", "-o", "x"), 2, "does not exist")
    assert_short_failure(invoke("collectstatic", "static"), 2, "--output")
