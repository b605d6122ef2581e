"""Sending the emails keel.auth writes (password reset): a pluggable backend.

The default, :class:`ConsoleMail`, writes each message to the ``keel.auth.mail`` logger,
which is what development needs. In production pass your own backend: any object with an
``async def send(self, message: Mail) -> None`` method (an SMTP or API client).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

__all__ = ["ConsoleMail", "Mail", "MailBackend", "MemoryMail"]

logger = logging.getLogger("keel.auth.mail")


@dataclass(frozen=True)
class Mail:
    """One email: recipient, subject and plain-text body."""

    to: str
    subject: str
    body: str


class MailBackend(Protocol):
    """What sends emails: ``await backend.send(message)``."""

    async def send(self, message: Mail) -> None:
        """Send ``message`` (or queue it)."""
        ...


class ConsoleMail:
    """Log each message at INFO level on the ``keel.auth.mail`` logger (development)."""

    async def send(self, message: Mail) -> None:
        """Write the message to the log."""
        logger.info("To: %s\nSubject: %s\n\n%s", message.to, message.subject, message.body)


class MemoryMail:
    """Keep messages in :attr:`outbox` (tests, and apps that hand mail to a task queue)."""

    def __init__(self) -> None:
        self.outbox: list[Mail] = []

    async def send(self, message: Mail) -> None:
        """Append the message to the outbox."""
        self.outbox.append(message)
