"""Sessions: the dict-like :class:`Session` behind ``request.session``, and where it is kept.

:class:`~keel.middleware.sessions.SessionMiddleware` loads the session before a request and
saves it with the response. The data lives either in the cookie itself (signed, not
encrypted: the client can read it but not change it) or server-side in a
:class:`SessionStore` (:class:`MemoryStore`, :class:`RedisStore`), the cookie then carrying
only a signed random id.
"""

from __future__ import annotations

import asyncio
import json
import time
import weakref
from collections import OrderedDict
from collections.abc import Iterator, MutableMapping
from typing import Any

_clock = time.monotonic  # the memory store's clock (tests move it)

__all__ = [
    "MemoryStore",
    "RedisStore",
    "Session",
    "SessionStore",
    "SessionStoreUnavailable",
    "decode",
    "encode",
]


class Session(MutableMapping[str, Any]):
    """The data of one client's session: a dict of JSON-serializable values.

    Setting or deleting a key marks it :attr:`modified`; changing a value in place
    (``session["cart"].append(3)``) does not: assign it again or set
    ``session.modified = True``. A session that is never touched costs nothing: no cookie is
    set and no store is read for a client without a session cookie.
    """

    __slots__ = ("_data", "modified", "accessed", "session_id", "cycled", "resign")

    def __init__(self, data: dict[str, Any] | None = None, session_id: str | None = None) -> None:
        self._data: dict[str, Any] = data if data is not None else {}
        self.modified = False
        """Whether the data changed and must be saved with the response."""
        self.accessed = False
        """Whether the request read or wrote the session (the response then varies by
        ``Cookie``)."""
        self.session_id = session_id
        """The id in the server-side store (``None`` for the cookie store or a new session)."""
        self.cycled = False
        """:meth:`cycle` was called: a new id is issued with the response."""
        self.resign = False
        """The cookie was signed with a fallback key: sign it again with the current key."""

    def __getitem__(self, key: str) -> Any:
        self.accessed = True
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.accessed = self.modified = True
        self._data[key] = value

    def __delitem__(self, key: str) -> None:
        self.accessed = self.modified = True
        del self._data[key]

    def __iter__(self) -> Iterator[str]:
        self.accessed = True
        return iter(self._data)

    def __len__(self) -> int:
        self.accessed = True
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        self.accessed = True
        return key in self._data

    def cycle(self) -> None:
        """Issue a new session id with the response, keeping the data (do it at login).

        With a server-side store the old id is deleted, so a copy of the old cookie (a fixed
        or stolen session id) then loads an empty session. With the cookie store the cookie
        is signed again.
        """
        self.accessed = self.modified = self.cycled = True

    def clear(self) -> None:
        """Remove every key and :meth:`cycle` (the cookie is deleted with the response)."""
        self._data.clear()
        self.cycle()

    flush = clear
    """Same as :meth:`clear` (Django's name; do it at logout)."""

    @property
    def data(self) -> dict[str, Any]:
        """The underlying dict (reading it does not mark the session accessed)."""
        return self._data

    def __repr__(self) -> str:
        return f"Session({self._data!r})"


class SessionStoreUnavailable(Exception):
    """A server-side store could not be reached; keel answers 503."""


class SessionStore:
    """Base class of server-side session stores: load, save and delete by session id.

    Subclass it for another engine. Raise :class:`SessionStoreUnavailable` when the engine
    cannot be reached: keel then answers ``503 Service Unavailable`` instead of treating the
    visitor as logged out.
    """

    async def load(self, session_id: str) -> dict[str, Any] | None:
        """The data saved for ``session_id``, or ``None`` when unknown or expired."""
        raise NotImplementedError

    async def save(self, session_id: str, data: dict[str, Any], max_age: int) -> None:
        """Save ``data`` for ``session_id``, expiring after ``max_age`` seconds."""
        raise NotImplementedError

    async def delete(self, session_id: str) -> None:
        """Forget ``session_id`` (no error when unknown)."""
        raise NotImplementedError

    async def close(self) -> None:
        """Release connections (called when the app shuts down)."""


def encode(data: dict[str, Any]) -> str:
    """Session data as compact JSON, with a clear error for values JSON cannot hold."""
    try:
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"Session values must be JSON-serializable (str, int, float, bool, None, list, "
            f"dict with str keys): {exc}"
        ) from None


def decode(text: str | bytes) -> dict[str, Any] | None:
    """Saved session data, or ``None`` when it is not a JSON object."""
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


class MemoryStore(SessionStore):
    """Sessions in this process's memory: for development and single-process apps.

    Entries expire after the session's max age; at most ``max_entries`` are kept (the
    least recently saved go first). Data is lost on restart and is not shared between
    processes or machines: use :class:`RedisStore` for that.
    """

    def __init__(self, *, max_entries: int = 10_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()

    async def load(self, session_id: str) -> dict[str, Any] | None:
        entry = self._entries.get(session_id)
        if entry is None:
            return None
        expires, text = entry
        if expires <= _clock():
            del self._entries[session_id]
            return None
        return decode(text)

    async def save(self, session_id: str, data: dict[str, Any], max_age: int) -> None:
        entries = self._entries
        entries[session_id] = (_clock() + max_age, encode(data))
        entries.move_to_end(session_id)
        if len(entries) > self.max_entries:
            now = _clock()
            for key in [k for k, (expires, _) in entries.items() if expires <= now]:
                del entries[key]
            while len(entries) > self.max_entries:
                entries.popitem(last=False)

    async def delete(self, session_id: str) -> None:
        self._entries.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._entries)


class RedisStore(SessionStore):
    """Sessions in Redis (``redis.asyncio``), shared by every process using the same Redis.

    Args:
        url: The Redis URL, e.g. ``"redis://127.0.0.1:6379/0"`` (needs ``keel[redis]``).
        key_prefix: Prepended to each session id to make the Redis key.

    Each session is one key holding its JSON, with a TTL of the session's max age. One
    connection pool is made per event loop, on first use. Connection errors and timeouts
    raise :class:`SessionStoreUnavailable` (keel answers 503).
    """

    def __init__(self, url: str, *, key_prefix: str = "keel:session:") -> None:
        if not url:
            raise ValueError("RedisStore needs a Redis URL, e.g. 'redis://127.0.0.1:6379/0'")
        try:
            import redis.asyncio  # noqa: F401
        except ImportError:
            raise ImportError(
                "The Redis session store needs the redis package: pip install 'keel[redis]'"
            ) from None
        self.url = url
        self.key_prefix = key_prefix
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
            weakref.WeakKeyDictionary()
        )

    def _client(self) -> Any:
        import redis.asyncio

        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = redis.asyncio.Redis.from_url(
                self.url, socket_connect_timeout=5, socket_timeout=5
            )
            self._clients[loop] = client
        return client

    async def _run(self, op: str, *args: Any, **options: Any) -> Any:
        from redis.exceptions import ConnectionError, TimeoutError

        try:
            return await getattr(self._client(), op)(*args, **options)
        except (ConnectionError, TimeoutError, OSError) as exc:
            raise SessionStoreUnavailable(f"Redis at {self._safe_url()} failed: {exc}") from exc

    def _safe_url(self) -> str:
        """The URL without a password, for messages."""
        scheme, sep, rest = self.url.partition("://")
        return f"{scheme}{sep}{rest.rpartition('@')[2]}"

    async def load(self, session_id: str) -> dict[str, Any] | None:
        raw = await self._run("get", self.key_prefix + session_id)
        return None if raw is None else decode(raw)

    async def save(self, session_id: str, data: dict[str, Any], max_age: int) -> None:
        await self._run("set", self.key_prefix + session_id, encode(data), ex=max_age)

    async def delete(self, session_id: str) -> None:
        await self._run("delete", self.key_prefix + session_id)

    async def close(self) -> None:
        """Close the connection pool of the running event loop."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()
