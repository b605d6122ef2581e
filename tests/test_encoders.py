from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import ipaddress
import pathlib
import re
import uuid
from collections import deque
from typing import Any

import pytest
from pydantic import BaseModel, Field

from keel.encoders import jsonable_encoder


class Color(enum.Enum):
    RED = "red"


class Item(BaseModel):
    name: str
    price: float = 1.0
    tax: float | None = None
    when: datetime.date = datetime.date(2024, 1, 2)
    nick: str = Field("n", alias="nickName")


@dataclasses.dataclass
class Point:
    x: int
    at: datetime.datetime


def test_scalars_and_containers() -> None:
    u = uuid.UUID("12345678-1234-5678-1234-567812345678")
    value = {
        "dt": datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
        "d": datetime.date(2024, 1, 2),
        "t": datetime.time(3, 4),
        "td": datetime.timedelta(days=1, seconds=1.5),
        "dec": decimal.Decimal("1.50"),
        "int_dec": decimal.Decimal("10"),
        "uuid": u,
        "bytes": b"abc",
        "set": {1},
        "frozen": frozenset({2}),
        "tuple": (1, 2),
        "deque": deque([3]),
        "gen": (i for i in range(2)),
        "enum": Color.RED,
        "path": pathlib.PurePosixPath("/a/b"),
        "ip": ipaddress.ip_address("10.0.0.1"),
        "re": re.compile("a+"),
        "none": None,
        Color.RED: 1,
    }
    assert jsonable_encoder(value) == {
        "dt": "2024-01-02T03:04:05+00:00",
        "d": "2024-01-02",
        "t": "03:04:00",
        "td": 86401.5,
        "dec": 1.5,
        "int_dec": 10,
        "uuid": str(u),
        "bytes": "abc",
        "set": [1],
        "frozen": [2],
        "tuple": [1, 2],
        "deque": [3],
        "gen": [0, 1],
        "enum": "red",
        "path": "/a/b",
        "ip": "10.0.0.1",
        "re": "a+",
        "none": None,
        "red": 1,
    }


def test_models_and_dataclasses_with_options() -> None:
    item = Item(name="x", tax=None)
    assert jsonable_encoder(item) == {
        "name": "x",
        "price": 1.0,
        "tax": None,
        "when": "2024-01-02",
        "nickName": "n",
    }
    assert jsonable_encoder(item, by_alias=False)["nick"] == "n"
    assert jsonable_encoder(item, exclude_unset=True) == {"name": "x", "tax": None}
    assert jsonable_encoder(item, exclude_none=True, include={"name", "tax"}) == {"name": "x"}
    assert jsonable_encoder(item, exclude_defaults=True) == {"name": "x"}
    assert jsonable_encoder(item, exclude={"when", "nick", "tax"}) == {"name": "x", "price": 1.0}
    at = datetime.datetime(2024, 1, 1)
    assert jsonable_encoder([Point(1, at)]) == [{"x": 1, "at": "2024-01-01T00:00:00"}]
    assert jsonable_encoder({"a": 1, "b": None}, exclude_none=True) == {"a": 1}
    assert jsonable_encoder({"a": 1, "_sa_state": 2}) == {"a": 1}


def test_custom_encoder_and_fallbacks() -> None:
    td = datetime.timedelta(minutes=1)
    assert jsonable_encoder({"td": td}, custom_encoder={datetime.timedelta: str}) == {
        "td": "0:01:00"
    }

    class Obj:
        def __init__(self) -> None:
            self.a = 1

    assert jsonable_encoder(Obj()) == {"a": 1}
    with pytest.raises(ValueError, match="Cannot convert object"):
        jsonable_encoder(object())


def test_model_inside_custom_encoded_value_keeps_python_types() -> None:
    class Event(BaseModel):
        at: datetime.datetime

    at = datetime.datetime(2024, 1, 1)
    encoded: Any = jsonable_encoder(
        Event(at=at), custom_encoder={datetime.datetime: lambda d: d.year}
    )
    assert encoded == {"at": 2024}
