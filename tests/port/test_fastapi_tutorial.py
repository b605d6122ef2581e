"""FastAPI 0.141.1's tutorial tests, ported with ``keel port fastapi``, run against keel.

Downloads the sdist once into ``~/.cache/keel-tests`` (sha256 checked); without PyPI the
test skips (fails under ``KEEL_REQUIRE_SERVICES=1``). The per-chapter table is printed and
written next to the ported tree (``report.md``).
"""

from __future__ import annotations

import importlib.util

import pytest

from tests.port import tutorial_kit as kit
from tests.services import require

pytest.importorskip("libcst", reason="keel port needs libcst: pip install 'keel[port]'")
pytest.importorskip("inline_snapshot", reason="FastAPI's tests need inline-snapshot (keel[dev])")
pytest.importorskip("dirty_equals", reason="FastAPI's tests need dirty-equals (keel[dev])")

# Thresholds: what passes on main today, less a small margin, so progress elsewhere never
# breaks this test. Targets from the issue: behaviour >= 95% with App; FastAPI's 422 body
# >= 90% with keel.fastapi.FastAPI. The exact OpenAPI document is not a goal (keel writes its
# own); FastAPI's other error bodies are a goal of the compatibility class only. Raise these
# as the work lands.
NATIVE_BEHAVIOUR_MIN = 88.0  # 91% (570/629) on 2026-12-05
COMPAT_422_MIN = 73.0  # 77% (154/199) on 2026-12-05
COMPAT_ERRORS_MIN = 85.0  # 90% (103/114) on 2026-12-05


def _summary(native: bool, capsys: pytest.CaptureFixture[str]) -> kit.Summary:
    try:
        root = kit.ported_tree(native)
    except kit.Unreachable as exc:
        require(f"FastAPI's tutorial needs the fastapi sdist from PyPI: {exc}")
    rows = kit.run(root)
    summary = kit.summarize(rows)
    mode = "keel.App (--native)" if native else "keel.fastapi.FastAPI"
    report = summary.table(f"FastAPI {kit.VERSION} tutorial on {mode}")
    report += "\n\nFailures by reason:\n" + kit.failures(rows)
    (root / "report.md").write_text(report + "\n", encoding="utf-8")
    with capsys.disabled():
        print("\n" + summary.table(f"FastAPI {kit.VERSION} tutorial on {mode}"))
    return summary


def test_tutorial_with_app(capsys: pytest.CaptureFixture[str]) -> None:
    summary = _summary(True, capsys)
    assert summary.percent("behaviour") >= NATIVE_BEHAVIOUR_MIN, summary.table("native")


def test_tutorial_with_compat_class(capsys: pytest.CaptureFixture[str]) -> None:
    if importlib.util.find_spec("keel.fastapi") is None:
        pytest.skip("keel.fastapi (the FastAPI compatibility class) is not in this keel yet")
    summary = _summary(False, capsys)
    assert summary.percent("422") >= COMPAT_422_MIN, summary.table("compat")
    assert summary.percent("errors") >= COMPAT_ERRORS_MIN, summary.table("compat")
