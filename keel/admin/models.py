"""The admin's audit log: one row per add, change or delete made through the admin.

Its table comes with its own migration script, shipped in keel (branch ``keel_admin`` in
``keel/admin/migrations/``): ``keel db migrate`` creates it beside the app's tables.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from keel.auth.models import USER_TABLE
from keel.db import IntPK, Model
from keel.db.branches import register_branch

__all__ = ["ADD", "CHANGE", "DELETE", "LogEntry"]

ADD = "add"
CHANGE = "change"
DELETE = "delete"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class LogEntry(IntPK, Model):
    """What a staff user did to one object, and when.

    ``changes`` holds one ``{"field", "old", "new"}`` per changed field (values as text):
    for an add the old values are ``None``; for a delete the new ones are.
    """

    __tablename__ = "admin_log"
    __table_args__ = (Index("ix_admin_log_object", "app_label", "model_name", "object_id"),)

    action_time: Mapped[dt.datetime] = mapped_column(default=_now)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey(f"{USER_TABLE}.id", ondelete="SET NULL"), index=True
    )
    user_repr: Mapped[str] = mapped_column(String(254), default="")
    app_label: Mapped[str] = mapped_column(String(100))
    model_name: Mapped[str] = mapped_column(String(100))
    object_id: Mapped[str] = mapped_column(String(64))
    object_repr: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(10))
    changes: Mapped[list[Any]] = mapped_column(JSON, default=list)

    def __str__(self) -> str:
        return f"{self.action} {self.model_name} {self.object_repr}"


register_branch("keel_admin", Path(__file__).with_name("migrations"), {"admin_log"})
