"""The Redis backend of :class:`~keel.channels.Channels`: pub/sub with reconnection, and
presence in sorted sets whose entries and keys expire."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from keel.channels._core import ChannelsUnavailable

if TYPE_CHECKING:
    from keel.channels._core import Channels

__all__ = ["RedisBackend"]

logger = logging.getLogger("keel.channels")

_FIRST_DELAY = 0.05
_MAX_DELAY = 5.0


class RedisBackend:
    """One pub/sub connection per process, subscribed to the channels someone listens to
    here; it reconnects with exponential backoff (50 ms to 5 s) after an outage and then
    tells every listener that it may have missed messages."""

    def __init__(self, channels: Channels, url: str, prefix: str) -> None:
        self.channels = channels
        self.prefix = prefix
        self.client: Any = aioredis.Redis.from_url(url)
        self.wanted: set[str] = set()
        self.pubsub: Any = None
        self.connected = asyncio.Event()
        self.reader: asyncio.Task[None] | None = None
        self.outages = 0
        """How many times the pub/sub connection was lost."""

    async def start(self) -> None:
        """Start the reader; wait (up to 1 s) for the first connection."""
        self.reader = asyncio.get_running_loop().create_task(self._run())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1):
                await self.connected.wait()

    async def stop(self) -> None:
        """Stop reading and close the connections."""
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(BaseException):
                await self.reader
        await self._close_pubsub()
        with contextlib.suppress(Exception):
            await self.client.aclose()

    async def _close_pubsub(self) -> None:
        pubsub, self.pubsub = self.pubsub, None
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def publish(self, channel: str, data: str | bytes) -> None:
        payload = b"t" + data.encode() if isinstance(data, str) else b"b" + data
        try:
            await self.client.publish(self.prefix + channel, payload)
        except (RedisError, OSError) as exc:
            raise ChannelsUnavailable(f"Redis is unreachable: {exc}") from exc

    async def subscribe(self, channel: str) -> None:
        self.wanted.add(channel)
        if self.pubsub is not None:
            with contextlib.suppress(RedisError, OSError):  # resubscribed on reconnection
                await self.pubsub.subscribe(self.prefix + channel)

    async def unsubscribe(self, channel: str) -> None:
        self.wanted.discard(channel)
        if self.pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self.pubsub.unsubscribe(self.prefix + channel)

    async def _run(self) -> None:
        delay = _FIRST_DELAY
        reconnecting = False
        control = self.prefix + "\x00control"  # keeps the connection subscribed
        cut = len(self.prefix)
        while True:
            try:
                pubsub = self.client.pubsub(ignore_subscribe_messages=True)
                self.pubsub = pubsub
                await pubsub.subscribe(control, *(self.prefix + c for c in self.wanted))
                self.connected.set()
                if reconnecting:
                    logger.warning("Redis pub/sub reconnected: listeners may have missed messages")
                    self.channels._missed()
                reconnecting = False
                delay = _FIRST_DELAY
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is None or message.get("type") != "message":
                        continue
                    channel = message["channel"]
                    name = (channel.decode() if isinstance(channel, bytes) else channel)[cut:]
                    raw: bytes = message["data"]
                    data: str | bytes = raw[1:].decode() if raw[:1] == b"t" else raw[1:]
                    self.channels._deliver(name, data)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not reconnecting:
                    self.outages += 1
                    logger.warning("Redis pub/sub connection lost (%s); reconnecting", exc)
                reconnecting = True
                self.connected.clear()
                await self._close_pubsub()
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_DELAY)

    # -- presence ----------------------------------------------------------------------------

    def _key(self, room: str) -> str:
        return f"{self.prefix}presence:{room}"

    async def present(self, room: str, member: str, ttl: float) -> None:
        key = self._key(room)
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.zadd(key, {member: time.time() + ttl})
                pipe.expire(key, max(1, int(ttl * 2)))
                await pipe.execute()
        except (RedisError, OSError) as exc:
            raise ChannelsUnavailable(f"Redis is unreachable: {exc}") from exc

    async def absent(self, room: str, member: str) -> None:
        try:
            await self.client.zrem(self._key(room), member)
        except (RedisError, OSError) as exc:
            raise ChannelsUnavailable(f"Redis is unreachable: {exc}") from exc

    async def members(self, room: str) -> list[str]:
        key = self._key(room)
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.zremrangebyscore(key, "-inf", time.time())
                pipe.zrange(key, 0, -1)
                _, found = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise ChannelsUnavailable(f"Redis is unreachable: {exc}") from exc
        return sorted(m.decode() if isinstance(m, bytes) else str(m) for m in found)
