"""keel.port._codemod: the import rewrites, on source text."""

from __future__ import annotations

import textwrap

import pytest

pytest.importorskip("libcst", reason="keel port needs libcst: pip install 'keel[port]'")

from keel.port import port_source  # noqa: E402
from keel.port._codemod import missing  # noqa: E402
from keel.port.mapping import MODULES, NAMES  # noqa: E402


def port(code: str, *, native: bool = False) -> str:
    return port_source(textwrap.dedent(code), native=native).result


def test_from_imports_go_to_their_keel_modules() -> None:
    assert port("from fastapi import Depends, Query\n") == "from keel import Depends, Query\n"
    assert port("from fastapi.responses import HTMLResponse\n") == (
        "from keel.responses import HTMLResponse\n"
    )
    assert port("from starlette.responses import HTMLResponse\n") == (
        "from keel.responses import HTMLResponse\n"
    )
    assert port("from fastapi.testclient import TestClient\n") == (
        "from keel.testing import TestClient\n"
    )
    assert port("from starlette.status import HTTP_201_CREATED\n") == (
        "from keel.status import HTTP_201_CREATED\n"
    )


def test_fastapi_class_goes_to_the_compatibility_class_or_app_with_native() -> None:
    code = "from fastapi import FastAPI\n\napp = FastAPI(title='x')\n"
    assert port(code) == "from keel.fastapi import FastAPI\n\napp = FastAPI(title='x')\n"
    assert port(code, native=True) == "from keel import App\n\napp = App(title='x')\n"


def test_native_rename_leaves_attributes_and_aliases_alone() -> None:
    code = "from fastapi import FastAPI as F\nimport other\n\napp = F()\nother.FastAPI\n"
    assert port(code, native=True) == (
        "from keel import App as F\nimport other\n\napp = F()\nother.FastAPI\n"
    )


def test_a_mixed_import_is_split_per_module_keeping_comments() -> None:
    code = """\
        # web
        from fastapi import (
            Depends,  # di
            FastAPI,
            JSONResponse,
        )  # end
    """
    assert port(code) == textwrap.dedent(
        """\
        # web
        from keel import (
            Depends,  # di
        )
        from keel.fastapi import FastAPI
        from keel.responses import JSONResponse  # end
        """
    )


def test_module_style_imports_and_their_uses() -> None:
    code = """\
        import fastapi
        import fastapi.responses as fr

        def view(x=fastapi.Depends(dep)) -> fr.HTMLResponse:
            raise fastapi.HTTPException(fastapi.status.HTTP_404_NOT_FOUND)
    """
    assert port(code) == textwrap.dedent(
        """\
        import keel
        import keel.status
        import keel.responses

        def view(x=keel.Depends(dep)) -> keel.responses.HTMLResponse:
            raise keel.HTTPException(keel.status.HTTP_404_NOT_FOUND)
        """
    )


def test_other_code_is_untouched_and_a_second_run_changes_nothing() -> None:
    code = "import os  # keep\nfrom .x import fastapi\nfrom fastapi import Body\n\nx  =  1\n"
    once = port(code)
    assert once == "import os  # keep\nfrom .x import fastapi\nfrom keel import Body\n\nx  =  1\n"
    again = port_source(once)
    assert not again.changed
    assert again.changes == [] and again.hands == []


def test_changes_are_reported_by_line() -> None:
    result = port_source("import os\nfrom fastapi import Query\n")
    assert result.changes == ["line 2: fastapi.Query -> keel.Query"]
    assert result.hands == []


def test_private_imports_and_base_http_middleware_need_a_hand() -> None:
    code = (
        "from fastapi.dependencies.utils import get_dependant\n"
        "from starlette.middleware.base import BaseHTTPMiddleware\n"
    )
    result = port_source(code)
    assert not result.changed
    assert "line 1: from fastapi.dependencies.utils import ...: a private" in result.hands[0]
    assert "line 2" in result.hands[1]
    assert '@app.middleware("http")' in result.hands[1]


def test_a_name_keel_lacks_is_rewritten_and_reported() -> None:
    result = port_source("from fastapi import Depends, NoSuchThing\n")
    assert result.result == "from keel import Depends, NoSuchThing\n"
    assert result.hands == ["line 1: fastapi.NoSuchThing: keel.NoSuchThing is not yet available"]


def test_availability_is_decided_by_importing_the_target() -> None:
    assert missing("keel", "Depends") is None
    assert missing("keel.responses", "HTMLResponse") is None
    assert missing("keel.no_such_module", "X") == "keel.no_such_module is not yet available"
    assert missing("keel", "no_such_name") == "keel.no_such_name is not yet available"


def test_the_table_names_only_keel_targets() -> None:
    assert all(target.startswith("keel") for target in MODULES.values())
    assert all(module.startswith("keel") for module, _ in NAMES.values())
    assert all(module in MODULES for module, _ in NAMES)
