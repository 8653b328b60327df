"""ClusterEvents against a real redis-server: what one process publishes reaches the others
(not itself); the config generation is counted, and caught up after Redis was away."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from cluster.harness import RedisServer
from only1mcp.cluster.events import ClusterEvents
from only1mcp.cluster.store import RedisStore
from only1mcp.config.cluster import ClusterConfig
from only1mcp.types import JsonObject

pytestmark = pytest.mark.anyio


class Heard:
    def __init__(self) -> None:
        self.messages: list[JsonObject] = []
        self.changed = asyncio.Event()

    async def __call__(self, message: JsonObject) -> None:
        self.messages.append(message)
        self.changed.set()

    async def next(self) -> JsonObject:
        await asyncio.wait_for(self.changed.wait(), 5)
        self.changed.clear()
        return self.messages[-1]


@pytest.fixture
async def two(redis_server: RedisServer) -> AsyncIterator[list[ClusterEvents]]:
    config = ClusterConfig(redis_url=redis_server.url, key_prefix=f"e{time.monotonic_ns()}:")
    stores = [RedisStore(config), RedisStore(config)]
    events = [ClusterEvents(store, f"n{i}") for i, store in enumerate(stores)]
    for store, each in zip(stores, events, strict=True):
        await store.start()
        await each.start()
    await asyncio.sleep(0.2)  # both subscribed
    yield events
    for store, each in zip(stores, events, strict=True):
        await each.close()
        await store.close()


async def test_a_list_change_reaches_the_other_process(two: list[ClusterEvents]) -> None:
    heard = [Heard(), Heard()]
    for each, sink in zip(two, heard, strict=True):
        each.on("lists", sink)
    assert await two[0].publish("lists", server="web", capability="tools")
    message = await heard[1].next()
    assert (message["server"], message["capability"], message["from"]) == ("web", "tools", "n0")
    await asyncio.sleep(0.2)
    assert heard[0].messages == []  # its own event is not news to the publisher


async def test_a_reload_reaches_the_others_once(two: list[ClusterEvents]) -> None:
    heard = Heard()
    two[1].on("config", heard)
    await two[0].config_reloaded()
    assert (await heard.next())["generation"] == 1 == two[0].generation == two[1].generation
    await two[0].publish("config", generation=1)  # an old generation again: ignored
    await asyncio.sleep(0.2)
    assert len(heard.messages) == 1


async def test_a_reload_missed_while_redis_was_away_is_caught_up(
    two: list[ClusterEvents], redis_server: RedisServer
) -> None:
    heard = Heard()
    two[1].on("config", heard)
    store = two[1].store
    redis_server.kill()
    await store.run(lambda client: client.ping())  # n1 sees it down
    assert not store.up
    redis_server.start()  # empty: the counter starts again from what n0 writes
    await two[0].store.run(lambda client: client.ping())
    await two[0].config_reloaded()
    # n1 was down when it was published; its probe finds Redis and it compares counters
    message = await heard.next()
    assert message["generation"] == 1 and two[1].generation == 1


async def test_a_generation_never_goes_back(two: list[ClusterEvents]) -> None:
    two[0].generation = 7  # as after a Redis that restarted empty
    await two[0].config_reloaded()
    assert two[0].generation == 8
