"""The broker named by ``KEEL_TASKS_BROKER``: the embedded one, or a taskiq broker to scale."""

from __future__ import annotations

from typing import TYPE_CHECKING

from taskiq import AsyncBroker

from keel.tasks.broker import DatabaseBroker
from keel.tasks.results import DatabaseResultBackend

if TYPE_CHECKING:
    from keel.tasks.registry import Tasks

__all__ = ["make_broker"]


def make_broker(tasks: Tasks) -> AsyncBroker:
    """The broker for ``tasks``'s settings, with keel's result backend on the app database."""
    settings = tasks.settings
    url = settings.tasks_broker
    database = tasks.database
    if not url or url == "database":
        if database is None:
            raise RuntimeError(
                "keel.tasks keeps jobs in the app's database by default: create a "
                "keel.db Database and call db.init_app(app) before the app starts, or set "
                "KEEL_TASKS_BROKER to a redis://, amqp:// or nats:// URL"
            )
        broker: AsyncBroker = DatabaseBroker(
            database,
            queue=settings.tasks_queue,
            lease=settings.tasks_lease,
            poll_interval=settings.tasks_poll_interval,
            prefetch=settings.tasks_prefetch,
        )
    else:
        from keel.tasks.scale import scale_broker

        broker = scale_broker(url, settings)
    if database is not None:
        broker.with_result_backend(DatabaseResultBackend(database, broker))
    return broker
