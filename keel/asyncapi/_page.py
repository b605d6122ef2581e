"""The ``/asyncapi`` page: the AsyncAPI document rendered on the server as plain HTML (no
script, no asset from elsewhere)."""

from __future__ import annotations

import json
from html import escape
from typing import Any

__all__ = ["asyncapi_html"]

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{margin-bottom:.2rem}.channel{border:1px solid #ccc;border-radius:6px;padding:.5rem 1rem;
margin:1rem 0}.address{font-family:monospace;font-size:1.1rem}.op{margin:.5rem 0}
.action{display:inline-block;min-width:5rem;font-weight:bold;text-transform:uppercase}
pre{background:#f6f6f6;padding:.5rem;overflow:auto;font-size:.85rem}
"""


def _payload(document: dict[str, Any], ref: str) -> tuple[str, dict[str, Any]]:
    name = ref.rsplit("/", 1)[-1]
    message = document["components"]["messages"].get(name, {})
    return name, message


def asyncapi_html(document: dict[str, Any], json_url: str, nonce: str | None = None) -> str:
    """The page for ``document``, linking to its JSON at ``json_url``."""
    info = document["info"]
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>{escape(info['title'])} - AsyncAPI</title>",
        f"<style{f' nonce={escape(nonce)}' if nonce else ''}>{_STYLE}</style></head><body>",
        f"<h1>{escape(info['title'])}</h1>",
        f"<p>Version {escape(info['version'])} · AsyncAPI {escape(document['asyncapi'])} · "
        f'<a href="{escape(json_url)}">{escape(json_url)}</a></p>',
    ]
    if info.get("description"):
        parts.append(f"<p>{escape(info['description'])}</p>")
    for key, channel in document["channels"].items():
        kind = "websocket" if "ws" in channel.get("bindings", {}) else "server-sent events"
        parts.append(f'<section class=channel id="{escape(key)}">')
        parts.append(f"<h2 class=address>{escape(channel['address'])}</h2>")
        parts.append(f"<p>{escape(kind)} · channel <code>{escape(key)}</code></p>")
        for text in (channel.get("summary"), channel.get("description")):
            if text:
                parts.append(f"<p>{escape(text)}</p>")
        for op in document["operations"].values():
            if op["channel"]["$ref"] != f"#/channels/{key}":
                continue
            verb = "client sends" if op["action"] == "receive" else "server sends"
            for ref in op["messages"]:
                name, message = _payload(document, ref["$ref"])
                schema = json.dumps(message.get("payload", {}), indent=2)
                parts.append(
                    f"<div class=op><span class=action>{escape(verb)}</span> "
                    f"<code>{escape(name)}</code> ({escape(message.get('contentType', ''))})"
                    f"<pre>{escape(schema)}</pre></div>"
                )
        parts.append("</section>")
    if not document["channels"]:
        parts.append("<p>This app has no websocket or event-stream routes.</p>")
    parts.append("</body></html>")
    return "".join(parts)
