"""Typed settings read from ``KEEL_*`` environment variables and ``.env``."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Core settings; subclass to add your own (they read ``KEEL_<NAME>`` by default).

    Attributes:
        debug: Show tracebacks for unhandled errors.
        max_body_size: Default request body limit in bytes.
        max_form_fields: Most fields accepted in a form body.
    """

    model_config = SettingsConfigDict(env_prefix="KEEL_", env_file=".env", extra="ignore")

    debug: bool = False
    max_body_size: int = 1024 * 1024
    max_form_fields: int = 1000
