"""keel.Settings: read from the environment and .env, overridden by App's arguments."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pytest
from pydantic import ValidationError

from keel import App, Depends, Settings
from keel.settings import get_settings
from keel.testing import TestClient


def test_defaults_live_in_one_place() -> None:
    settings = Settings()
    app = App()
    assert settings.max_form_fields == app.max_form_fields == 1000
    assert settings.max_body_size == app.max_body_size == 1024 * 1024
    assert settings.body_timeout == app.body_timeout == 30.0
    assert settings.debug is None and app.debug is False and not settings.production


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEL_DEBUG", "false")
    monkeypatch.setenv("KEEL_ALLOWED_HOSTS", "example.com, .example.org")
    monkeypatch.setenv("KEEL_TRUSTED_PROXIES", '["10.0.0.0/8"]')
    monkeypatch.setenv("KEEL_SECRET_KEY_FALLBACKS", "old-one,older-one")
    monkeypatch.setenv("KEEL_MAX_BODY_SIZE", "2048")
    settings = Settings()
    assert settings.production
    assert settings.allowed_hosts == ["example.com", ".example.org"]
    assert settings.trusted_proxies == ["10.0.0.0/8"]
    assert [k.get_secret_value() for k in settings.secret_key_fallbacks] == [
        "old-one",
        "older-one",
    ]
    assert App().max_body_size == 2048


def test_dotenv_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("KEEL_MAX_FORM_FIELDS=7\nKEEL_CSRF=false\n")
    settings = Settings()
    assert settings.max_form_fields == 7
    assert settings.csrf is False


def test_secrets_are_not_shown() -> None:
    settings = Settings(secret_key="s" * 40)
    assert "sss" not in repr(settings)
    assert "sss" not in str(settings.model_dump())


def test_app_arguments_override_single_settings() -> None:
    base = Settings(max_form_fields=5, body_timeout=3.0)
    app = App(settings=base, max_form_fields=9, max_body_size=None)
    assert app.max_form_fields == 9
    assert app.max_body_size is None  # None given: no limit
    assert app.body_timeout == 3.0  # not given: the settings' value
    assert app.settings.max_form_fields == 9
    assert base.max_form_fields == 5  # the given object is not changed


def test_app_arguments_are_validated_like_settings() -> None:
    with pytest.raises(ValidationError, match="max_body_size"):
        App(max_body_size=-1)


def test_a_bad_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEL_MAX_BODY_SIZE", "lots")
    with pytest.raises(ValidationError, match="max_body_size"):
        App()


def test_handlers_get_the_settings_by_dependency() -> None:
    class MySettings(Settings):
        greeting: str = "hello"

    app = App(settings=MySettings(greeting="ahoy"))

    @app.get("/")
    async def index(settings: Annotated[Settings, Depends(get_settings)]) -> dict[str, object]:
        assert isinstance(settings, MySettings)
        return {"greeting": settings.greeting, "csrf": settings.csrf}

    with TestClient(app) as client:
        assert client.get("/").json() == {"greeting": "ahoy", "csrf": True}
