"""A chat: rooms over websockets, typed messages, presence, history in keel.db, and the
room's messages as server-sent events.

One process (in-memory channels, SQLite)::

    keel run examples.chat:app

Two workers sharing Redis (a message sent through one reaches clients of the other)::

    KEEL_CHANNELS_BACKEND=redis KEEL_REDIS_URL=redis://127.0.0.1:6379/0 \\
        keel serve examples.chat:app --workers 2

Connect with ``ws://127.0.0.1:8000/rooms/lobby?user=ann`` and send
``{"type": "say", "text": "hello"}`` or ``{"type": "typing"}``; the AsyncAPI document is at
``/asyncapi.json`` and its page at ``/asyncapi``.
"""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator
from typing import Annotated, Literal

from pydantic import BaseModel, Field
from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, mapped_column

from keel import App, Path, Query, ServerSentEvent, WebSocket
from keel.channels import Channels
from keel.db import Database, IntPK, Model, Session, Timestamps

HISTORY = 50

app = App(title="keel chat", description="Rooms, typed messages, presence and history.")
channels = Channels(app)
db = Database()  # KEEL_DATABASE_URL, default sqlite+aiosqlite:///./app.db
db.init_app(app)


@app.on_startup
async def create_tables() -> None:
    await db.create_all()  # a demo: a real app runs `keel db migrate`


class ChatMessage(IntPK, Timestamps, Model):
    __tablename__ = "chat_messages"
    room: Mapped[str] = mapped_column(String(40), index=True)
    user: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(String(500))


# -- the messages ------------------------------------------------------------------------------

Name = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[\w.-]+$")]


class Say(BaseModel):
    """Post a message to the room."""

    type: Literal["say"]
    text: str = Field(min_length=1, max_length=500)


class Typing(BaseModel):
    """Tell the room you are typing."""

    type: Literal["typing"]


Inbound = Annotated[Say | Typing, Field(discriminator="type")]


class Said(BaseModel):
    """A message someone posted."""

    type: Literal["said"] = "said"
    id: int
    user: str
    text: str
    at: datetime.datetime


class Presence(BaseModel):
    """Who is in the room now."""

    type: Literal["presence"] = "presence"
    members: list[str]


class IsTyping(BaseModel):
    """Someone is typing."""

    type: Literal["typing"] = "typing"
    user: str


Outbound = Annotated[Said | Presence | IsTyping, Field(discriminator="type")]


def said(message: ChatMessage) -> Said:
    return Said(id=message.id, user=message.user, text=message.text, at=message.created_at)


async def history(room: str) -> list[Said]:
    async with db.session() as session:
        rows = await session.scalars(
            select(ChatMessage)
            .where(ChatMessage.room == room)
            .order_by(ChatMessage.id.desc())
            .limit(HISTORY)
        )
        return [said(m) for m in reversed(list(rows))]


# -- the routes --------------------------------------------------------------------------------

RoomName = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[\w.-]+$")]


@app.websocket("/rooms/{room}")
async def chat(
    ws: WebSocket[Inbound, Outbound], room: RoomName, user: Annotated[Name, Query()]
) -> None:
    """Chat in a room: the last messages first, then everything said, typing and presence."""
    await ws.accept()
    for message in await history(room):
        await ws.send_message(message)
    await ws.join(room)
    await channels.enter(room, user)
    await channels.broadcast(room, ws.encode(Presence(members=await channels.members(room))))
    try:
        async for incoming in ws:
            if isinstance(incoming, Typing):
                await channels.broadcast(room, ws.encode(IsTyping(user=user)))
                continue
            async with db.session() as session:
                row = ChatMessage(room=room, user=user, text=incoming.text)
                session.add(row)
                await session.flush()
                out = said(row)
            await channels.broadcast(room, ws.encode(out))
    finally:
        await channels.exit(room, user)
        members = await channels.members(room)
        await channels.broadcast(room, ws.encode(Presence(members=members)))


@app.get("/rooms/{room}/history")
async def room_history(room: RoomName, session: Session) -> list[Said]:
    """The room's last messages, oldest first."""
    rows = await session.scalars(
        select(ChatMessage).where(ChatMessage.room == room).order_by(ChatMessage.id.desc())
    )
    return [said(m) for m in reversed(list(rows)[:HISTORY])]


@app.get("/rooms/{room}/members")
async def room_members(room: RoomName) -> list[str]:
    """Who is in the room, across every worker."""
    return await channels.members(room)


@app.get("/rooms/{room}/events")
async def room_events(room: RoomName) -> AsyncIterator[ServerSentEvent]:
    """The room's messages as server-sent events (``missed`` after a Redis outage)."""
    async for message in channels.subscribe(room):
        if message.missed:
            yield ServerSentEvent(event="missed")
        else:
            yield ServerSentEvent(message.data, event="message")
