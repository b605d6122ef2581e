"""Small immutable multi-dicts and helpers for headers, query strings and URLs."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

from keel._http import parse_query

__all__ = ["URL", "FormData", "Headers", "ImmutableMultiDict", "QueryParams", "State"]

V = TypeVar("V")


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

    def get(self, key: str, default: Any = None) -> Any:
        """The first value of header ``key``, or ``default``."""
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


class ImmutableMultiDict(Mapping[str, V]):
    """Read-only multi-dict: ``d[key]`` is the first value, ``getlist`` all of them."""

    __slots__ = ("_list", "_dict")

    def __init__(self, items: Iterable[tuple[str, V]] = ()) -> None:
        self._list = list(items)
        d: dict[str, V] = {}
        for k, v in self._list:
            d.setdefault(k, v)
        self._dict = d

    def __getitem__(self, key: str) -> V:
        return self._dict[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    def getlist(self, key: str) -> list[V]:
        """All values given for ``key``, in order."""
        return [v for k, v in self._list if k == key]

    def multi_items(self) -> list[tuple[str, V]]:
        """Every ``(key, value)`` pair, repeated keys included."""
        return list(self._list)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._list!r})"


class QueryParams(ImmutableMultiDict[str]):
    """Query-string parameters, decoded as UTF-8 by the same parser as typed parameters.

    Invalid UTF-8 (raw or percent-encoded), or more than ``max_params`` parameters, raises a
    400 :class:`~keel.errors.HTTPError`.
    """

    __slots__ = ()

    def __init__(
        self, query: str | bytes | Iterable[tuple[str, str]] = "", max_params: int | None = None
    ) -> None:
        if isinstance(query, str | bytes):
            query = parse_query(query, max_params=max_params)
        super().__init__(query)


class FormData(ImmutableMultiDict[Any]):
    """Parsed form fields; values are ``str`` or :class:`keel.UploadFile`."""

    __slots__ = ()

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
    def scheme(self) -> str:
        """The scheme (``https``)."""
        return urlsplit(self).scheme

    @property
    def netloc(self) -> str:
        """Host and port as written."""
        return urlsplit(self).netloc

    @property
    def hostname(self) -> str | None:
        """The host name, lower-cased."""
        return urlsplit(self).hostname

    @property
    def port(self) -> int | None:
        """The explicit port, if any."""
        return urlsplit(self).port

    @property
    def path(self) -> str:
        """The path."""
        return urlsplit(self).path

    @property
    def query(self) -> str:
        """The raw query string."""
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
