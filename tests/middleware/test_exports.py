"""keel.middleware exports every middleware, loading each module only on first use."""

from __future__ import annotations

import subprocess
import sys

import pytest

import keel.middleware


def test_every_public_name_is_importable_and_sorted() -> None:
    assert keel.middleware.__all__ == sorted(keel.middleware.__all__)
    for name in keel.middleware.__all__:
        assert getattr(keel.middleware, name) is not None, name
        assert name in dir(keel.middleware)
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = keel.middleware.Nope


def test_import_keel_loads_no_middleware_module() -> None:
    code = (
        "import sys, keel\n"
        "from keel.middleware import Middleware\n"
        "print(','.join(m for m in sys.modules if m.startswith('keel.middleware.')))\n"
        "from keel.middleware import CORSMiddleware\n"
        "print('keel.middleware.cors' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["", "True"]
