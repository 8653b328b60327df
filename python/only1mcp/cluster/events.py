"""Cluster-wide events: what one process learns that every other one must act on.

One channel (``events``) carries small JSON messages ``{"kind", "from", ...}``; each process
publishes its own and handles the others' (its own come back too and are ignored):

* ``config``: a reload on one process succeeded (``generation``: the cluster's config
  generation, the ``config:generation`` counter it incremented); the others reload their file.
  A process that was cut off from Redis compares the counter when Redis is back and reloads if
  it missed one.
* ``lists``: a server told one process that its list of some kind changed; the others re-read
  it (a remote server may tell only the connection it chose).

Delivery is at most once (Redis pub/sub): a process that misses a ``lists`` message reads the
list again at its next own notification or restart; the counter covers ``config``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from only1mcp.cluster.store import RedisStore, listen
from only1mcp.types import JsonObject

log = logging.getLogger("only1mcp.cluster.events")

# The next generation: past the counter and past this process's own (a Redis that restarted
# empty must not hand out a generation the others have seen already).
NEXT_GENERATION = """
local g = redis.call('INCR', KEYS[1])
if g <= tonumber(ARGV[1]) then
  g = tonumber(ARGV[1]) + 1
  redis.call('SET', KEYS[1], g)
end
return g
"""
Handler = Callable[[JsonObject], Awaitable[None]]


class ClusterEvents:
    def __init__(self, store: RedisStore, node: str) -> None:
        self.store = store
        self.node = node
        self.channel = store.key("events")
        self.generation_key = store.key("config", "generation")
        #: The cluster's config generation this process is at (0: the file read at start).
        self.generation = 0
        self._handlers: dict[str, Handler] = {}
        self._pubsub: PubSub = store.client.pubsub(ignore_subscribe_messages=True)
        self._listening: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        store.on_change(self._reachability)

    def on(self, kind: str, handler: Handler) -> None:
        """Run ``handler(message)`` for each ``kind`` event another process publishes."""
        self._handlers[kind] = handler

    async def start(self) -> None:
        """Listen; this process starts at the cluster's current generation (it has just read
        the file)."""
        self.generation = await self._counter() or 0
        self._listening = asyncio.create_task(
            listen(self._pubsub, lambda: [self.channel], self._dispatch),
            name="only1mcp-cluster-events",
        )

    async def close(self) -> None:
        tasks = [*self._tasks, *([self._listening] if self._listening else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(RedisError, OSError):
            await self._pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]  # typed in redis 8

    async def publish(self, kind: str, **fields: Any) -> bool:
        """Tell the other processes; False when Redis is down (nobody heard)."""
        frame = orjson.dumps({"kind": kind, "from": self.node, **fields})
        return await self.store.run(lambda client: client.publish(self.channel, frame)) is not None

    async def config_reloaded(self) -> None:
        """A reload here succeeded: a new cluster generation, and every other process reloads."""
        generation = await self.store.run(
            lambda client: client.eval(NEXT_GENERATION, 1, self.generation_key, self.generation)
        )
        if generation is None:
            log.warning("config reloaded here only: Redis is down, the other processes keep theirs")
            return
        self.generation = int(generation)
        await self.publish("config", generation=self.generation)

    async def _counter(self) -> int | None:
        value = await self.store.run(lambda client: client.get(self.generation_key))
        return None if value is None else int(value)

    def _dispatch(self, channel: str, data: bytes) -> None:
        try:
            message = orjson.loads(data)
        except orjson.JSONDecodeError:
            log.warning("ignored a cluster event that is not JSON: %r", data[:200])
            return
        if not isinstance(message, dict) or message.get("from") == self.node:
            return
        if message.get("kind") == "config":
            generation = message.get("generation")
            if not isinstance(generation, int) or generation <= self.generation:
                return
            self.generation = generation
        handler = self._handlers.get(str(message.get("kind")))
        if handler is not None:
            self._spawn(handler(message))

    def _reachability(self, up: bool) -> None:
        if up:
            self._spawn(self._catch_up())

    async def _catch_up(self) -> None:
        """Back in touch with Redis: reload if another process reloaded meanwhile."""
        generation = await self._counter()
        handler = self._handlers.get("config")
        if generation is not None and generation > self.generation and handler is not None:
            self.generation = generation
            await handler({"kind": "config", "generation": generation, "missed": True})

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a cluster event's handler failed", exc_info=task.exception())
