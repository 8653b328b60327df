"""The one Redis connection of a process, and whether Redis is reachable.

Every shared-state feature goes through :class:`RedisStore`. Redis being down is a state, not
an error: :meth:`RedisStore.run` answers ``None`` and marks the store down, and callers fall
back to what the process can do alone. A background probe marks it up again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from only1mcp.config.cluster import ClusterConfig

log = logging.getLogger("only1mcp.cluster")

T = TypeVar("T")
PROBE_EVERY = 1.0
LISTEN_WAIT = 1.0  # seconds one read of the channels may wait (bounds a stop)


class RedisStore:
    """A ``redis.asyncio`` client with an up/down flag; keys are built with :meth:`key`."""

    def __init__(self, config: ClusterConfig) -> None:
        if config.redis_url is None:
            raise ValueError("cluster.redis_url is not set")
        self.config = config
        self.client: redis.Redis = redis.Redis.from_url(
            config.redis_url,
            socket_timeout=config.timeout,
            socket_connect_timeout=config.timeout,
            health_check_interval=0,
        )
        self.up = False
        self.reason = "not reached yet"  # why it is down ("" when up)
        self._probe: asyncio.Task[None] | None = None
        self._listeners: list[Callable[[bool], None]] = []

    def key(self, *parts: str) -> str:
        """``key_prefix`` + the parts joined with ``:``."""
        return self.config.key_prefix + ":".join(parts)

    def on_change(self, listener: Callable[[bool], None]) -> None:
        """Call ``listener(up)`` whenever reachability changes (metrics, /healthz, logs)."""
        self._listeners.append(listener)

    async def start(self) -> None:
        """Ping once (a down Redis is not fatal) and keep probing in the background."""
        await self._ping()
        self._probe = asyncio.create_task(self._probe_loop(), name="only1mcp-redis-probe")

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            await asyncio.gather(self._probe, return_exceptions=True)
        await self.client.aclose()

    async def run(self, command: Callable[[redis.Redis], Awaitable[T]]) -> T | None:
        """``await command(client)``, or ``None`` (and the store marked down) if Redis fails."""
        try:
            result = await asyncio.wait_for(command(self.client), self.config.timeout)
        except (RedisError, OSError, TimeoutError) as exc:
            if self.up:
                # The pooled connections are dead or stuck: without this, each would fail once
                # more after Redis is back, and the store would flap down again for each.
                with contextlib.suppress(RedisError, OSError):
                    await self.client.connection_pool.disconnect()
            self._mark(False, exc)
            return None
        self._mark(True)
        return result

    async def _ping(self) -> None:
        await self.run(lambda client: client.ping())

    async def _probe_loop(self) -> None:
        while True:
            await asyncio.sleep(PROBE_EVERY)
            await self._ping()

    def _mark(self, up: bool, exc: BaseException | None = None) -> None:
        if up == self.up:
            return
        self.up = up
        self.reason = "" if up else str(exc or "no answer") or type(exc).__name__
        if up:
            log.info("redis at %s is reachable: shared state is on", self._where())
        else:
            log.warning(
                "redis at %s is unreachable (%s): serving with this process's state only",
                self._where(),
                exc or "no answer",
            )
        for listener in self._listeners:
            listener(up)

    def _where(self) -> str:
        pool = self.client.connection_pool.connection_kwargs
        return f"{pool.get('host', '?')}:{pool.get('port', '?')}"


async def listen(
    pubsub: PubSub, wanted: Callable[[], list[str]], dispatch: Callable[[str, bytes], None]
) -> None:
    """Deliver every message of the ``wanted()`` channels to ``dispatch(channel, data)``, until
    cancelled; a lost connection is opened again (and the channels subscribed again) once
    Redis answers, without a crash or a hot loop meanwhile."""
    while True:
        try:
            if pubsub.connection is None:
                await pubsub.subscribe(*wanted())
            message = await pubsub.get_message(timeout=LISTEN_WAIT)
        except (RedisError, OSError) as exc:
            log.debug("cluster channels unreadable (%s): retrying", exc)
            await pubsub.reset()
            await asyncio.sleep(PROBE_EVERY)
            continue
        if message is not None and message.get("type") == "message":
            try:
                dispatch(message["channel"].decode(), message["data"])
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                # Anyone who can publish on the prefix can send junk: never stop listening.
                log.warning("ignored a malformed cluster message (%s): %r", exc, message)
