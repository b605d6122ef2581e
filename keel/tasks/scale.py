"""The brokers to scale with (``KEEL_TASKS_BROKER``): taskiq's Redis, RabbitMQ and NATS brokers.

Each is configured for keel's guarantees: acknowledged after the job ran, prefetch bounded
by ``concurrency + prefetch``, and a crashed worker's jobs delivered again within the
lease even when nothing new arrives:

- RabbitMQ (taskiq-aio-pika): unacknowledged messages go back to the queue as soon as the
  worker's connection drops; the channel's ``qos`` bounds prefetch.
- NATS JetStream (taskiq-nats, pull consumer): the server redelivers a message not
  acknowledged within ``ack_wait`` (the lease); ``max_ack_pending`` bounds prefetch; held
  jobs are marked in progress every third of a lease.
- Redis streams (taskiq-redis): taskiq's broker reclaims pending messages only after a read
  that returned new ones, so on a quiet queue a dead worker's jobs would wait forever. keel's
  subclass reclaims (``XAUTOCLAIM`` past the lease) on every read, and keeps the jobs it
  holds fresh (``XCLAIM ... JUSTID`` every third of a lease).

Retries re-send the message (same job id) after the backoff; the last failure is recorded
as dead in the app's database, where ``keel tasks`` lists and retries it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator
from typing import Any

from taskiq import AckableMessage, AsyncBroker, TaskiqMessage, TaskiqMiddleware, TaskiqResult
from taskiq.labels import prepare_label

from keel.settings import Settings
from keel.tasks.broker import ATTEMPT, BACKOFF, BACKOFF_MAX, MAX_TRIES
from keel.tasks.results import backoff_delay

__all__ = ["RetryMiddleware", "relabel", "scale_broker"]

logger = logging.getLogger("keel.tasks")


class RetryMiddleware(TaskiqMiddleware):
    """Retries a failed try with exponential backoff by sending the message again.

    The wait happens in the worker, before the failed delivery is acknowledged: a worker
    that dies meanwhile leaves the message to be delivered again, never lost.
    """

    def __init__(self) -> None:
        super().__init__()
        self.last_tries: dict[str, str] = {}
        """Messages of jobs that failed their last try, until their dead row is written."""

    async def on_error(
        self, message: TaskiqMessage, result: TaskiqResult[Any], exception: BaseException
    ) -> None:
        """Send the next try after its backoff (or leave the job dead after the last)."""
        labels = message.labels
        attempt = int(labels.get(ATTEMPT, 1))
        if attempt >= int(labels.get(MAX_TRIES, 1)):
            # the result backend records it dead, with the message (for `keel tasks retry`)
            self.last_tries[message.task_id] = self.broker.formatter.dumps(message).message.decode()
            return
        delay = backoff_delay(
            attempt, float(labels.get(BACKOFF, 1.0)), float(labels.get(BACKOFF_MAX, 300.0))
        )
        await asyncio.sleep(delay)
        again = relabel(message, attempt + 1)
        await self.broker.kick(self.broker.formatter.dumps(again))


def relabel(message: TaskiqMessage, attempt: int) -> TaskiqMessage:
    """A copy of ``message`` for try ``attempt``, its labels in taskiq's wire form (strings:
    NATS carries them as headers)."""
    labels = {**message.labels, ATTEMPT: attempt}
    labels.pop("delay", None)
    prepared: dict[str, Any] = {}
    types: dict[str, int] = {}
    for key, value in labels.items():
        prepared[key], types[key] = prepare_label(value)
    return message.model_copy(update={"labels": prepared, "labels_types": types})


class _Held:
    """Deliveries a worker holds, kept alive every third of a lease by ``touch``."""

    def __init__(self, lease: float) -> None:
        self.lease = lease
        self.items: dict[Any, Any] = {}
        self.task: asyncio.Task[None] | None = None

    def start(self, touch: Any) -> None:
        if self.task is None:
            self.task = asyncio.create_task(self._beat(touch), name="keel.tasks leases")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None

    async def _beat(self, touch: Any) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            if self.items:
                try:
                    await touch(dict(self.items))
                except Exception:
                    logger.exception("could not extend the leases of held jobs")


def _redis_broker(url: str, settings: Settings, queue: str) -> AsyncBroker:
    from redis.asyncio import Redis
    from taskiq_redis import RedisStreamBroker

    lease_ms = int(settings.tasks_lease * 1000)
    batch = max(1, settings.tasks_prefetch)  # read (and reclaim) at most this many at once

    class KeelRedisStreamBroker(RedisStreamBroker):
        """taskiq-redis's stream broker, reclaiming a dead worker's jobs on a quiet queue."""

        keel_kind = "redis"

        def __init__(self) -> None:
            super().__init__(
                url,
                queue_name=f"keel:tasks:{queue}",
                consumer_group_name=f"keel:{queue}",
                consumer_id="0",  # a group made after the first jobs still reads them
                xread_block=max(1, int(settings.tasks_poll_interval * 1000)),
                xread_count=batch,
                idle_timeout=lease_ms,
                unacknowledged_batch_size=batch,
            )
            self.held = _Held(settings.tasks_lease)

        async def listen(self) -> AsyncGenerator[AckableMessage, None]:
            self.held.start(self._touch)
            try:
                async with Redis(connection_pool=self.connection_pool) as redis:
                    while True:
                        reclaimed: Any = await redis.xautoclaim(
                            self.queue_name,
                            self.consumer_group_name,
                            self.consumer_name,
                            min_idle_time=lease_ms,
                            count=batch,
                        )
                        for msg_id, fields in reclaimed[1]:
                            yield self._deliver(msg_id, fields)
                        fetched: Any = await redis.xreadgroup(
                            self.consumer_group_name,
                            self.consumer_name,
                            {self.queue_name: ">"},
                            block=self.block,
                            count=batch,
                        )
                        for _stream, messages in fetched or ():
                            for msg_id, fields in messages:
                                yield self._deliver(msg_id, fields)
            finally:
                await self.held.stop()

        def _deliver(self, msg_id: Any, fields: dict[bytes, bytes]) -> AckableMessage:
            self.held.items[msg_id] = True

            async def ack() -> None:
                async with Redis(connection_pool=self.connection_pool) as redis:
                    await redis.xack(self.queue_name, self.consumer_group_name, msg_id)
                self.held.items.pop(msg_id, None)

            return AckableMessage(data=fields[b"data"], ack=ack)

        async def _touch(self, items: dict[Any, Any]) -> None:
            async with Redis(connection_pool=self.connection_pool) as redis:
                await redis.xclaim(
                    self.queue_name,
                    self.consumer_group_name,
                    self.consumer_name,
                    min_idle_time=0,
                    message_ids=list(items),
                    justid=True,
                )

    return KeelRedisStreamBroker()


def _amqp_broker(url: str, queue: str, window: int) -> AsyncBroker:
    from taskiq_aio_pika import AioPikaBroker
    from taskiq_aio_pika.exchange import Exchange
    from taskiq_aio_pika.queue import Queue

    broker = AioPikaBroker(
        url,
        qos=window,
        exchange=Exchange(name="keel.tasks"),
        task_queues=[Queue(name=f"keel.tasks.{queue}")],
        dead_letter_queue=Queue(name=f"keel.tasks.{queue}.dead"),
        delay_queue=Queue(name=f"keel.tasks.{queue}.delay"),
    )
    broker.keel_kind = "amqp"  # type: ignore[attr-defined]
    return broker


def _nats_broker(url: str, settings: Settings, queue: str, window: int) -> AsyncBroker:
    from nats.js.api import AckPolicy, ConsumerConfig
    from taskiq_nats import PullBasedJetStreamBroker

    durable = f"keel_tasks_{queue}"

    class KeelJetStreamBroker(PullBasedJetStreamBroker):
        """taskiq-nats's pull broker; held jobs are marked in progress while they run."""

        keel_kind = "nats"

        def __init__(self) -> None:
            super().__init__(
                url,
                subject=f"keel.tasks.{queue}",
                stream_name=durable,
                durable=durable,
                consumer_config=ConsumerConfig(
                    durable_name=durable,
                    ack_policy=AckPolicy.EXPLICIT,
                    ack_wait=settings.tasks_lease,
                    max_ack_pending=window,
                    max_deliver=-1,
                ),
                pull_consume_batch=max(1, settings.tasks_prefetch),
                pull_consume_timeout=max(1.0, settings.tasks_poll_interval),
            )
            self.held = _Held(settings.tasks_lease)

        async def listen(self) -> AsyncGenerator[AckableMessage, None]:
            self.held.start(self._touch)
            try:
                while True:
                    try:
                        fetched = await self.consumer.fetch(
                            batch=self.pull_consume_batch, timeout=self.pull_consume_timeout
                        )
                    except TimeoutError:  # nats' own and asyncio's: nothing arrived
                        continue
                    for message in fetched:
                        key = message.metadata.sequence.stream
                        if key in self.held.items:
                            # JetStream redelivered a job this worker still runs (its ack
                            # timer fired before the first in-progress mark): skip the copy
                            continue
                        yield self._deliver(key, message)
            finally:
                await self.held.stop()

        def _deliver(self, key: int, message: Any) -> AckableMessage:
            self.held.items[key] = message

            async def ack() -> None:
                await message.ack()
                self.held.items.pop(key, None)

            return AckableMessage(data=message.data, ack=ack)

        async def _touch(self, items: dict[Any, Any]) -> None:
            for message in items.values():
                await message.in_progress()

    return KeelJetStreamBroker()


def scale_broker(url: str, settings: Settings) -> AsyncBroker:
    """The taskiq broker for a ``redis://``, ``amqp://`` or ``nats://`` URL."""
    scheme = url.partition("://")[0].lower()
    queue = settings.tasks_queue
    window = settings.tasks_concurrency + settings.tasks_prefetch
    try:
        if scheme in ("redis", "rediss"):
            broker = _redis_broker(url, settings, queue)
        elif scheme in ("amqp", "amqps"):
            broker = _amqp_broker(url, queue, window)
        elif scheme in ("nats", "tls"):
            broker = _nats_broker(url, settings, queue, window)
        else:
            raise ValueError(
                f"KEEL_TASKS_BROKER={url.split('@')[-1]!r}: unknown scheme {scheme!r}; use "
                "database (the default), redis://, amqp:// or nats://"
            )
    except ImportError as exc:
        raise RuntimeError(
            f"the {scheme} broker needs its taskiq package: pip install 'keel[queue]' ({exc})"
        ) from exc
    broker.add_middlewares(RetryMiddleware())
    return broker
