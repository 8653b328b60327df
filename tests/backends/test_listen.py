"""The listen stream of a 2026 server on a fake transport: what it asks for, what reaches
``on_message`` (without the stream's tag and acknowledgement), and a subscription that widens
it and waits for the server's acknowledgement."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from only1mcp.backends import Backend, Wiring
from only1mcp.backends.base import Sink
from only1mcp.config import Protocol
from only1mcp.protocol import jsonrpc
from only1mcp.protocol.stateless import LATEST_STATELESS, LISTEN_ACKNOWLEDGED, META_SUBSCRIPTION
from only1mcp.types import JsonObject

from .fake import FakeServer, fake_config

pytestmark = pytest.mark.anyio
CAPABILITIES = {"tools": {"listChanged": True}, "resources": {"subscribe": True}}


async def test_the_listen_stream_asks_for_what_can_change_and_delivers_it_untagged() -> None:
    received: asyncio.Queue[JsonObject] = asyncio.Queue()
    filters: asyncio.Queue[JsonObject] = asyncio.Queue()

    async def on_message(backend: Backend, frame: bytes) -> None:
        await received.put(orjson.loads(frame))

    async def discover(params: JsonObject, sink: Sink | None) -> JsonObject:
        return {"supportedVersions": [LATEST_STATELESS], "capabilities": CAPABILITIES}

    async def listen(params: JsonObject, sink: Sink | None) -> JsonObject:
        assert sink is not None
        await filters.put(params["notifications"])
        tag = {META_SUBSCRIPTION: "s1"}
        await sink(jsonrpc.notification(LISTEN_ACKNOWLEDGED, {"_meta": tag}))
        changed = jsonrpc.notification("notifications/tools/list_changed", {"_meta": tag})
        await sink(changed)
        await asyncio.Event().wait()  # the stream stays open
        return {}

    config = fake_config(protocol=Protocol.AUTO)
    backend = FakeServer(config=config, wiring=Wiring(on_message))
    backend.handlers["server/discover"] = discover
    backend.handlers["subscriptions/listen"] = listen
    await backend.start()
    try:
        assert await filters.get() == {"toolsListChanged": True}
        msg = await received.get()
        assert msg == {"jsonrpc": "2.0", "method": "notifications/tools/list_changed", "params": {}}
        await backend.subscribe("file:///a")  # returns once the new stream acknowledged it
        assert await filters.get() == {
            "toolsListChanged": True,
            "resourceSubscriptions": ["file:///a"],
        }
        backend.unsubscribe("file:///a")
        assert await filters.get() == {"toolsListChanged": True}
        assert all(m.get("method") != LISTEN_ACKNOWLEDGED for m in [msg, *_drain(received)])
    finally:
        await backend.close()


def _drain(queue: asyncio.Queue[JsonObject]) -> list[JsonObject]:
    items: list[JsonObject] = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items
