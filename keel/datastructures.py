"""Small immutable multi-dicts and helpers for headers, query strings and URLs."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = ["URL", "Headers", "QueryParams", "State", "FormData"]


class Headers(Mapping[str, str]):
    """Case-insensitive, read-only view of raw ASGI headers.

    ``headers["content-type"]`` returns the first value; ``getlist`` returns all.
    """

    __slots__ = ("_raw", "_dict")

    def __init__(self, raw: Sequence[tuple[bytes, bytes]] = ()) -> None:
        self._raw = list(raw)
        self._dict: dict[str, str] | None = None

    @property
    def raw(self) -> list[tuple[bytes, bytes]]:
        """The raw ``(name, value)`` byte pairs, names lower-cased as ASGI requires."""
        return self._raw

    def _index(self) -> dict[str, str]:
        d = self._dict
        if d is None:
            d = {}
            for k, v in self._raw:
                name = k.decode("latin-1").lower()
                if name not in d:
                    d[name] = v.decode("latin-1")
            self._dict = d
        return d

    def __getitem__(self, key: str) -> str:
        return self._index()[key.lower()]

    def get(self, key: str, default: Any = None) -> Any:  # noqa: D102
        return self._index().get(key.lower(), default)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._index()

    def __iter__(self) -> Iterator[str]:
        return iter(self._index())

    def __len__(self) -> int:
        return len(self._index())

    def getlist(self, key: str) -> list[str]:
        """All values of header ``key`` in order of appearance."""
        name = key.lower().encode("latin-1")
        return [v.decode("latin-1") for k, v in self._raw if k.lower() == name]

    def __repr__(self) -> str:
        return f"Headers({[(k.decode('latin-1'), v.decode('latin-1')) for k, v in self._raw]!r})"


class QueryParams(Mapping[str, str]):
    """Read-only multi-dict of query-string parameters (first value wins for ``[]``)."""

    __slots__ = ("_list", "_dict")

    def __init__(self, query: str | bytes | Sequence[tuple[str, str]] = "") -> None:
        if isinstance(query, bytes):
            query = query.decode("latin-1")
        if isinstance(query, str):
            self._list = parse_qsl(query, keep_blank_values=True, errors="surrogateescape")
        else:
            self._list = list(query)
        d: dict[str, str] = {}
        for k, v in self._list:
            d.setdefault(k, v)
        self._dict = d

    def __getitem__(self, key: str) -> str:
        return self._dict[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    def getlist(self, key: str) -> list[str]:
        """All values given for ``key``."""
        return [v for k, v in self._list if k == key]

    def multi_items(self) -> list[tuple[str, str]]:
        """Every ``(key, value)`` pair, repeated keys included."""
        return list(self._list)

    def __repr__(self) -> str:
        return f"QueryParams({self._list!r})"


class FormData(Mapping[str, Any]):
    """Parsed form fields; values are ``str`` or :class:`keel.UploadFile`."""

    __slots__ = ("_list", "_dict")

    def __init__(self, items: Sequence[tuple[str, Any]] = ()) -> None:
        self._list = list(items)
        d: dict[str, Any] = {}
        for k, v in self._list:
            d.setdefault(k, v)
        self._dict = d

    def __getitem__(self, key: str) -> Any:
        return self._dict[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    def getlist(self, key: str) -> list[Any]:
        """All values given for ``key``."""
        return [v for k, v in self._list if k == key]

    def multi_items(self) -> list[tuple[str, Any]]:
        """Every ``(key, value)`` pair, repeated keys included."""
        return list(self._list)

    async def close(self) -> None:
        """Close every uploaded file held by this form."""
        for _, v in self._list:
            close = getattr(v, "close", None)
            if close is not None:
                await close()


class URL(str):
    """A URL string with its parts as properties."""

    __slots__ = ()

    @property
    def scheme(self) -> str:  # noqa: D102
        return urlsplit(self).scheme

    @property
    def netloc(self) -> str:  # noqa: D102
        return urlsplit(self).netloc

    @property
    def hostname(self) -> str | None:  # noqa: D102
        return urlsplit(self).hostname

    @property
    def port(self) -> int | None:  # noqa: D102
        return urlsplit(self).port

    @property
    def path(self) -> str:  # noqa: D102
        return urlsplit(self).path

    @property
    def query(self) -> str:  # noqa: D102
        return urlsplit(self).query


class State:
    """A free attribute namespace (``app.state``, ``request.state``)."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"state has no attribute {name!r}; set it first (state.{name} = ...)")

    def __setattr__(self, name: str, value: Any) -> None:
        self.__dict__[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self.__dict__[name]
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self) -> str:
        return f"State({self.__dict__!r})"
