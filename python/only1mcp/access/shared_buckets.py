"""Rate-limit buckets shared by every process of a cluster, kept in Redis (docs/scaling.md).

The gate decides synchronously, on the hot path, so a call never waits for Redis. Each bucket
lives in Redis (a hash ``{tokens, ts}`` with a TTL, refilled and spent by one Lua script on
Redis's clock). A process spends, in this order: tokens it *leased* from the bucket (a few,
``LEASE`` seconds of the rate, taken atomically so no other process can spend them); else
on credit, while the bucket held more than a lease's worth at the last sync (the spent tokens
are taken from it by the next sync); else it refuses. After each call it syncs in the
background: reports what it spent on credit, learns the bucket's level and leases again.

So near the limit, where the bucket holds less than a lease, every token spent anywhere was
leased first and the cluster's total is exact; it falls short by the leases left unspent
(dropped after ``LEASE_TTL``). Far below it, credit lets bursts through without a round trip;
the overdraft is bounded by what the processes spend in one sync's round trip.

Redis down: every process counts in its own :class:`LocalBuckets` (the limit then holds per
process, not per cluster) until Redis is back; a log line says so each way.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as redis

from only1mcp.cluster.store import RedisStore
from only1mcp.config.access import RateConfig

from .ratelimit import MAX_BUCKETS, LocalBuckets

log = logging.getLogger("only1mcp.access.shared_buckets")

#: Seconds of the rate a process leases ahead (at least one token).
LEASE = 0.05
#: Seconds a leased token stays spendable: older ones are dropped (the bucket's refill has
#: moved on without them).
LEASE_TTL = 1.0
#: Seconds a bucket's key outlives the time it takes to fill (a missing key is a full bucket).
KEY_MARGIN = 10

# Refill (at ARGV rate, up to ARGV capacity, on Redis's clock), take the tokens spent (the
# level may go below zero: calls let through on credit), then lease up to ARGV want whole
# tokens. Returns {leased, level}.
SPEND_AND_LEASE = """
local now = redis.call('TIME')
now = tonumber(now[1]) + tonumber(now[2]) / 1000000
local rate, capacity = tonumber(ARGV[1]), tonumber(ARGV[2])
local spent, want = tonumber(ARGV[3]), tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or capacity
local last = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - last) * rate) - spent
local leased = 0
if tokens >= 1 then
  leased = math.min(want, math.floor(tokens))
  tokens = tokens - leased
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], ARGV[5])
return {leased, tostring(tokens)}
"""


@dataclass(slots=True)
class Lease:
    """This process's share of one shared bucket, and what it last saw of the rest."""

    level: float  # the bucket's tokens after the last sync (beyond every lease)
    tokens: int = 0  # leased: this process's to spend
    leased_at: float = 0.0
    spent: int = 0  # spent here on credit, not yet taken from the bucket in Redis
    reporting: int = 0  # spent on credit, being taken by the sync in flight
    syncing: bool = False
    again: bool = False  # a call came while syncing: sync once more after


class RedisBuckets:
    """:class:`~only1mcp.access.ratelimit.Buckets` shared through ``store`` (see the module)."""

    def __init__(self, store: RedisStore, limit: int = MAX_BUCKETS) -> None:
        self._store = store
        self._local = LocalBuckets(limit)
        self._leases: dict[Hashable, Lease] = {}
        self._limit = limit
        self._script = store.client.register_script(SPEND_AND_LEASE)
        self._tasks: set[asyncio.Task[None]] = set()
        store.on_change(self._said)

    def take(self, key: Hashable, rate: RateConfig, now: float) -> float:
        if not self._store.up:
            return self._local.take(key, rate, now)
        lease = self._leases.get(key) or self._new_lease(key, rate, now)
        if lease.tokens and now - lease.leased_at > LEASE_TTL:
            lease.tokens = 0
        if lease.tokens:
            lease.tokens -= 1
        elif lease.level - lease.spent - lease.reporting >= _lease_size(rate):
            lease.spent += 1  # on credit: the bucket had plenty at the last sync
        else:
            # Too few left to spend on credit (what other processes spend meanwhile could
            # overdraw it): the sync leases what has flowed in since.
            self._sync(key, lease, rate)
            return 1.0 / rate.per_second
        self._sync(key, lease, rate)
        return 0.0

    def _new_lease(self, key: Hashable, rate: RateConfig, now: float) -> Lease:
        """A bucket not seen yet is taken to be full until the first sync says otherwise."""
        if len(self._leases) >= self._limit:
            idle = [k for k, v in self._leases.items() if now - v.leased_at > LEASE_TTL]
            for stale in idle or list(self._leases):
                if not self._leases[stale].syncing:
                    del self._leases[stale]
        lease = self._leases[key] = Lease(level=rate.capacity, leased_at=now)
        return lease

    def _sync(self, key: Hashable, lease: Lease, rate: RateConfig) -> None:
        if lease.syncing:
            lease.again = True
            return
        lease.syncing = True
        task = asyncio.get_running_loop().create_task(self._run_sync(key, lease, rate))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_sync(self, key: Hashable, lease: Lease, rate: RateConfig) -> None:
        want = _lease_size(rate)
        ttl = math.ceil(rate.capacity / rate.per_second) + KEY_MARGIN
        name = self._store.key("rate", *(str(part) for part in _parts(key)))
        try:
            while True:
                lease.again = False
                lease.reporting, lease.spent = lease.spent, 0
                ask = max(0, want - lease.tokens)
                args = (rate.per_second, rate.capacity, lease.reporting, ask, ttl)
                answer = await self._store.run(self._command(name, args))
                lease.reporting = 0
                if answer is None:
                    return  # Redis is down: the local buckets count from now on
                lease.tokens += int(answer[0])
                lease.level = float(answer[1])
                lease.leased_at = time.monotonic()
                if not lease.again:
                    return
        finally:
            lease.syncing = False

    def _command(
        self, name: str, args: tuple[float, ...]
    ) -> Callable[[redis.Redis], Awaitable[Any]]:
        return lambda client: self._script(keys=[name], args=list(args), client=client)

    def _said(self, up: bool) -> None:
        if up:
            log.info("rate limits are shared by the cluster again (Redis is back)")
        else:
            self._leases.clear()
            log.warning("rate limits count per process while Redis is down")

    def __len__(self) -> int:
        return len(self._leases)


def _lease_size(rate: RateConfig) -> int:
    return max(1, math.ceil(rate.per_second * LEASE))


def _parts(key: Hashable) -> tuple[object, ...]:
    return key if isinstance(key, tuple) else (key,)
