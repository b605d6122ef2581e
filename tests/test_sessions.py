"""keel.sessions: the Session mapping and the memory store (Redis: tests/middleware)."""

from __future__ import annotations

import asyncio

import pytest

from keel.sessions import MemoryStore, Session, decode, encode


def flags(session: Session) -> tuple[bool, bool]:
    """(accessed, modified)."""
    return session.accessed, session.modified


def test_session_is_a_dict_that_tracks_changes() -> None:
    session = Session({"a": 1})
    assert flags(session) == (False, False)
    assert session["a"] == 1 and session.get("b") is None and "a" in session
    assert flags(session) == (True, False)
    session["b"] = [1]
    assert flags(session) == (True, True)
    assert dict(session) == {"a": 1, "b": [1]} and len(session) == 2
    session.pop("a")
    assert session.data == {"b": [1]}
    assert repr(session) == "Session({'b': [1]})"


def test_cycle_keeps_data_and_clear_empties_and_cycles() -> None:
    session = Session({"user": 1}, "old-id")
    session.cycle()
    assert session.cycled and session.modified and dict(session) == {"user": 1}
    other = Session({"user": 1}, "old-id")
    other.flush()
    assert other.cycled and dict(other) == {}


def test_encode_refuses_what_json_cannot_hold() -> None:
    assert encode({"a": [1, "x", None, True]}) == '{"a":[1,"x",null,true]}'
    with pytest.raises(TypeError, match="JSON-serializable"):
        encode({"a": {1, 2}})
    with pytest.raises(TypeError, match="JSON-serializable"):
        encode({"a": float("nan")})
    assert decode("[1]") is None and decode("{") is None and decode(b"\xff") is None


def test_memory_store_expires_entries(monkeypatch: pytest.MonkeyPatch) -> None:
    store = MemoryStore()
    now = [1000.0]
    monkeypatch.setattr("keel.sessions._clock", lambda: now[0])

    async def run() -> None:
        await store.save("a", {"x": 1}, max_age=10)
        assert await store.load("a") == {"x": 1}
        now[0] += 11
        assert await store.load("a") is None
        assert len(store) == 0

    asyncio.run(run())


def test_memory_store_is_bounded_and_keeps_copies() -> None:
    store = MemoryStore(max_entries=2)

    async def run() -> None:
        data = {"n": [1]}
        await store.save("a", data, 60)
        data["n"].append(2)  # a later change to the dict is not in the store
        assert await store.load("a") == {"n": [1]}
        await store.save("b", {"n": 2}, 60)
        await store.save("c", {"n": 3}, 60)
        assert len(store) == 2
        assert await store.load("a") is None  # the least recently saved went first
        assert await store.load("b") == {"n": 2}
        await store.delete("b")
        await store.delete("missing")
        assert await store.load("b") is None

    asyncio.run(run())
    with pytest.raises(ValueError, match="max_entries"):
        MemoryStore(max_entries=0)
