"""``keel port fastapi``: the command on a FastAPI-style project (tests/port/fixtures/shop)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from keel.cli import main

pytest.importorskip("libcst", reason="keel port needs libcst: pip install 'keel[port]'")

FIXTURES = Path(__file__).with_name("fixtures")


def files(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): p.read_text(encoding="utf-8")
        for p in sorted(root.rglob("*.py"))
        if "__pycache__" not in p.parts
    }


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURES / "shop", tmp_path / "shop"))


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["port", "fastapi", *args])
    return result.exit_code, result.output


def test_the_project_is_rewritten_as_expected(shop: Path) -> None:
    code, out = invoke(str(shop))
    assert code == 0, out
    assert files(shop) == files(FIXTURES / "shop_expected")
    assert "changed  line 3: fastapi.APIRouter -> keel.APIRouter" in out
    assert f"{shop / 'app' / 'middleware.py'}:" in out
    assert '@app.middleware("http")' in out
    assert "from fastapi.dependencies.utils import ...: a private" in out
    # how many names keel lacks depends on this keel; the two private imports always count
    assert "4 file(s) changed; " in out
    assert "thing(s) need a hand." in out


def test_a_second_run_changes_nothing(shop: Path) -> None:
    invoke(str(shop))
    code, out = invoke(str(shop), "--check")
    assert code == 0, out
    assert "0 file(s) would change" in out


def test_check_exits_1_and_writes_nothing(shop: Path) -> None:
    before = files(shop)
    code, out = invoke(str(shop), "--check")
    assert code == 1
    assert "4 file(s) would change" in out
    assert files(shop) == before


def test_diff_prints_a_unified_diff_and_writes_nothing(shop: Path) -> None:
    before = files(shop)
    code, out = invoke(str(shop / "app" / "routers" / "items.py"), "--diff")
    assert code == 0
    assert f"--- a/{shop / 'app' / 'routers' / 'items.py'}" in out
    assert "-from fastapi.encoders import jsonable_encoder\n" in out
    assert "+from keel.encoders import jsonable_encoder\n" in out
    assert files(shop) == before


def test_native_rewrites_fastapi_to_app(shop: Path) -> None:
    code, out = invoke(str(shop / "app" / "main.py"), "--native")
    assert code == 0, out
    text = (shop / "app" / "main.py").read_text()
    assert "    App,\n" in text  # joins Depends, Request and status in the keel import
    assert "app = App(\n" in text
    assert "FastAPI(" not in text


def test_an_unparsable_file_is_reported_and_skipped(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from fastapi import (\n")
    code, out = invoke(str(tmp_path))
    assert code == 0
    assert "bad.py: skipped, not valid Python" in out
    assert bad.read_text() == "from fastapi import (\n"


def test_hidden_folders_and_virtualenvs_are_skipped(tmp_path: Path) -> None:
    for folder in (".venv/lib", "venv", "src"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "m.py").write_text("from fastapi import Query\n")
    invoke(str(tmp_path))
    assert (tmp_path / "src" / "m.py").read_text() == "from keel import Query\n"
    assert (tmp_path / ".venv/lib/m.py").read_text() == "from fastapi import Query\n"
    assert (tmp_path / "venv/m.py").read_text() == "from fastapi import Query\n"


def test_without_libcst_the_error_names_the_extra(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text("from fastapi import Query\n")
    script = (
        "import sys; sys.modules['libcst'] = None\n"
        "from keel.cli import main\n"
        f"main(['port', 'fastapi', {str(tmp_path)!r}])\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 1
    assert "keel[port]" in done.stderr
    assert (tmp_path / "m.py").read_text() == "from fastapi import Query\n"
