"""Starlette's module name for :class:`~keel.middleware.hosts.TrustedHostMiddleware`."""

from keel.middleware.hosts import TrustedHostMiddleware

__all__ = ["TrustedHostMiddleware"]
