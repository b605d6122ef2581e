from __future__ import annotations

import subprocess
import sys

import keel
import keel.responses


def test_public_names_are_sorted_and_importable() -> None:
    assert keel.__all__ == sorted(keel.__all__)
    for name in keel.__all__:
        assert getattr(keel, name) is not None, name
    for name in keel.responses.__all__:
        assert getattr(keel.responses, name) is not None


def test_import_keel_loads_no_battery_and_no_test_client() -> None:
    code = (
        "import sys, keel; "
        "bad = [m for m in sys.modules if m.startswith(('keel.db', 'httpx', 'sqlalchemy', "
        "'keel.testing', 'pydantic_settings', 'python_multipart', 'jinja2'))]; "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_settings_are_lazy_but_available() -> None:
    assert keel.Settings().max_body_size == 1024 * 1024


def test_a_hello_world_app_never_loads_pydantic_models() -> None:
    """Simple routes use pydantic-core schemas directly: less memory for small services."""
    code = (
        "import sys\n"
        "from keel import App\n"
        "app = App()\n"
        "@app.get('/items/{item_id}')\n"
        "async def item(item_id: int, q: str | None = None) -> dict[str, object]:\n"
        "    return {'id': item_id}\n"
        "app.build()\n"
        "print('pydantic.main' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
