"""keel.channels: publish/subscribe, websocket groups and presence, in one process or
across processes and machines through Redis.

::

    from keel.channels import Channels

    channels = Channels(app)  # backend from settings: memory (default) or redis

    await channels.publish("news", {"title": "..."})
    async for message in channels.subscribe("news"):
        ...
    await ws.join("room:42")                      # a websocket joins a group
    await channels.broadcast("room:42", message)  # every member, in every process
"""

from __future__ import annotations

from keel.channels._core import ChannelMessage, Channels, ChannelsUnavailable, Subscription

__all__ = ["ChannelMessage", "Channels", "ChannelsUnavailable", "Subscription"]
