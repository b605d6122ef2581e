"""Channels: local delivery to websockets and subscribers, over a memory or Redis backend."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic_core import to_json

from keel.errors import HTTPError

if TYPE_CHECKING:
    from keel.app import App
    from keel.channels._redis import RedisBackend
    from keel.settings import Settings
    from keel.websockets import WebSocket

__all__ = ["ChannelMessage", "Channels", "ChannelsUnavailable", "Subscription"]


class ChannelsUnavailable(HTTPError):
    """The channels backend (Redis) cannot be reached: a 503 with ``Retry-After``."""

    def __init__(self, detail: str) -> None:
        super().__init__(503, detail, {"Retry-After": "5"})


logger = logging.getLogger("keel.channels")

MISSED_FRAME = '{"type":"channels.missed","channel":%s}'
"""What websockets in a group get after a Redis outage: they may have missed messages."""


@dataclass(frozen=True, slots=True)
class ChannelMessage:
    """One message from :meth:`Channels.subscribe`.

    ``data`` is what was published: text (JSON for objects) or bytes. ``missed`` is ``True``
    (and ``data`` empty) when the backend lost its connection for a while: messages
    published meanwhile may not have arrived, so reload what you need.
    """

    channel: str
    data: str | bytes
    missed: bool = False

    def json(self) -> Any:
        """``data`` parsed as JSON."""
        from keel._json import loads

        raw = self.data.encode() if isinstance(self.data, str) else self.data
        return loads(raw)


class Subscription:
    """An ``async for`` over a channel's messages, with a bounded buffer (the oldest message
    is dropped, counted in :attr:`dropped` and logged, when the reader falls behind)."""

    def __init__(self, channels: Channels, channel: str, size: int) -> None:
        self.channels = channels
        self.channel = channel
        self.size = size
        self.buffer: collections.deque[ChannelMessage] = collections.deque()
        self.ready = asyncio.Event()
        self.dropped = 0
        self.closed = False

    def put(self, message: ChannelMessage) -> None:
        if len(self.buffer) >= self.size:
            self.buffer.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                logger.warning(
                    "subscriber of %r is too slow: %d message(s) dropped",
                    self.channel,
                    self.dropped,
                )
        self.buffer.append(message)
        self.ready.set()

    def __aiter__(self) -> AsyncIterator[ChannelMessage]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[ChannelMessage]:
        await self.channels._add_interest(self.channel)
        self.channels._subscribers.setdefault(self.channel, set()).add(self)
        try:
            while not self.closed:
                while self.buffer:
                    yield self.buffer.popleft()
                self.ready.clear()
                await self.ready.wait()
        finally:
            subs = self.channels._subscribers.get(self.channel)
            if subs is not None:
                subs.discard(self)
                if not subs:
                    del self.channels._subscribers[self.channel]
            with contextlib.suppress(Exception):
                await self.channels._drop_interest(self.channel)

    def close(self) -> None:
        """End the iteration."""
        self.closed = True
        self.ready.set()


class Channels:
    """Publish/subscribe and websocket groups for an app.

    Args:
        app: The app whose websockets may ``join`` groups (installed as
            ``app.extensions["keel.channels"]``, started and stopped with it).
        backend: ``"memory"`` (one process) or ``"redis"`` (every process sharing
            ``redis_url``); default: the ``channels_backend`` setting.
        redis_url: The Redis to use (default: the ``redis_url`` setting).
        prefix: Prefix of the Redis channel names and presence keys.
        subscriber_buffer: Messages buffered per :meth:`subscribe` reader.
        presence_ttl: Seconds a presence entry lives unless refreshed (it is refreshed while
            entered).
    """

    def __init__(
        self,
        app: App | None = None,
        *,
        backend: Literal["memory", "redis"] | None = None,
        redis_url: str | None = None,
        prefix: str = "keel:channels:",
        subscriber_buffer: int = 1000,
        presence_ttl: float = 30.0,
        settings: Settings | None = None,
    ) -> None:
        if settings is None and app is not None:
            settings = app.settings
        if backend is None:
            backend = settings.channels_backend if settings is not None else "memory"
        if backend == "redis":
            redis_url = redis_url or (settings.redis_url if settings is not None else None)
            if not redis_url:
                raise ValueError(
                    "The redis channels backend needs a Redis URL: set KEEL_REDIS_URL "
                    "(or pass redis_url=)"
                )
        self.backend_name = backend
        self.redis_url = redis_url
        self.prefix = prefix
        self.subscriber_buffer = subscriber_buffer
        self.presence_ttl = presence_ttl
        self._groups: dict[str, set[WebSocket[Any, Any]]] = {}
        self._subscribers: dict[str, set[Subscription]] = {}
        self._interest: collections.Counter[str] = collections.Counter()
        self._redis: RedisBackend | None = None
        self._presence: dict[str, dict[str, float]] = {}
        self._entered: set[tuple[str, str]] = set()
        self._refresher: asyncio.Task[None] | None = None
        self.delivered = 0
        """Frames handed to websockets (pushed into their send queues) by this process."""
        if app is not None:
            app.extensions["keel.channels"] = self
            app.on_startup(self.start)
            app.on_shutdown(self.stop)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect the backend (run at app startup)."""
        if self.backend_name == "redis" and self._redis is None:
            from keel.channels._redis import RedisBackend

            assert self.redis_url is not None
            self._redis = RedisBackend(self, self.redis_url, self.prefix)
            await self._redis.start()

    async def stop(self) -> None:
        """Disconnect (run at app shutdown); subscriptions end."""
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(BaseException):
                await self._refresher
            self._refresher = None
        for entry in list(self._entered):
            with contextlib.suppress(Exception):
                await self.exit(*entry)
        for subs in list(self._subscribers.values()):
            for sub in list(subs):
                sub.close()
        if self._redis is not None:
            await self._redis.stop()
            self._redis = None

    async def _backend(self) -> RedisBackend | None:
        if self.backend_name == "redis" and self._redis is None:
            await self.start()
        return self._redis

    # -- publish / subscribe -----------------------------------------------------------------

    async def publish(self, channel: str, message: Any) -> None:
        """Send ``message`` to everyone listening on ``channel``, in every process.

        Text and bytes go as they are; anything else (dicts, models…) as JSON text.
        """
        data = _encode(message)
        redis = await self._backend()
        if redis is None:
            self._deliver(channel, data)
        else:
            await redis.publish(channel, data)

    broadcast = publish
    """``broadcast(group, message)``: :meth:`publish` to a websocket group."""

    def subscribe(self, channel: str) -> Subscription:
        """``async for message in channels.subscribe("news")``: every message published to
        ``channel`` from now on (a :class:`ChannelMessage`)."""
        return Subscription(self, channel, self.subscriber_buffer)

    def _deliver(self, channel: str, data: str | bytes) -> None:
        """Hand a message to this process's websockets and subscribers of ``channel``."""
        members = self._groups.get(channel)
        if members:
            for ws in members:
                ws.push(data)
            self.delivered += len(members)
        subs = self._subscribers.get(channel)
        if subs:
            message = ChannelMessage(channel, data)
            for sub in subs:
                sub.put(message)

    def _missed(self) -> None:
        """After an outage: everyone may have missed messages."""
        for channel, members in self._groups.items():
            frame = MISSED_FRAME % to_json(channel).decode()
            for ws in members:
                ws.push(frame)
        for channel, subs in self._subscribers.items():
            for sub in subs:
                sub.put(ChannelMessage(channel, "", missed=True))

    async def _add_interest(self, channel: str) -> None:
        self._interest[channel] += 1
        if self._interest[channel] == 1:
            redis = await self._backend()
            if redis is not None:
                await redis.subscribe(channel)

    async def _drop_interest(self, channel: str) -> None:
        self._interest[channel] -= 1
        if self._interest[channel] <= 0:
            del self._interest[channel]
            if self._redis is not None:
                await self._redis.unsubscribe(channel)

    # -- websocket groups (ws.join / ws.leave) -----------------------------------------------

    async def join(self, ws: WebSocket[Any, Any], group: str) -> None:
        """Deliver ``group``'s messages to ``ws`` (what ``await ws.join(group)`` calls)."""
        members = self._groups.setdefault(group, set())
        if ws in members:
            return
        members.add(ws)
        await self._add_interest(group)

    async def leave(self, ws: WebSocket[Any, Any], group: str) -> None:
        """Stop delivering ``group``'s messages to ``ws``."""
        members = self._groups.get(group)
        if members is None or ws not in members:
            return
        members.discard(ws)
        if not members:
            del self._groups[group]
        await self._drop_interest(group)

    def local_members(self, group: str) -> int:
        """How many websockets of this process are in ``group``."""
        return len(self._groups.get(group, ()))

    # -- presence ----------------------------------------------------------------------------

    async def enter(self, room: str, member: str) -> None:
        """Mark ``member`` present in ``room`` until :meth:`exit` (refreshed meanwhile; it
        expires ``presence_ttl`` seconds after its process stops refreshing it)."""
        self._entered.add((room, member))
        redis = await self._backend()
        if redis is None:
            self._presence.setdefault(room, {})[member] = time.time() + self.presence_ttl
        else:
            await redis.present(room, member, self.presence_ttl)
        if self._refresher is None or self._refresher.done():
            self._refresher = asyncio.get_running_loop().create_task(self._refresh())

    async def exit(self, room: str, member: str) -> None:
        """``member`` left ``room``."""
        self._entered.discard((room, member))
        redis = await self._backend()
        if redis is None:
            self._presence.get(room, {}).pop(member, None)
        else:
            await redis.absent(room, member)

    async def members(self, room: str) -> list[str]:
        """Who is present in ``room`` (in every process), sorted."""
        redis = await self._backend()
        if redis is not None:
            return await redis.members(room)
        now = time.time()
        entries = self._presence.get(room, {})
        for member in [m for m, until in entries.items() if until <= now]:
            del entries[member]
        return sorted(entries)

    async def _refresh(self) -> None:
        while self._entered:
            await asyncio.sleep(self.presence_ttl / 3)
            for room, member in list(self._entered):
                try:
                    redis = self._redis
                    if redis is None:
                        self._presence.setdefault(room, {})[member] = (
                            time.time() + self.presence_ttl
                        )
                    else:
                        await redis.present(room, member, self.presence_ttl)
                except Exception as exc:  # Redis down: retried at the next round
                    logger.warning("presence refresh failed: %s", exc)


def _encode(message: Any) -> str | bytes:
    if isinstance(message, str | bytes):
        return message
    return to_json(message).decode()
