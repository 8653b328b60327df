"""RedisBuckets against a real redis-server: two processes' worth of buckets share one limit;
Redis down, each counts alone."""

from __future__ import annotations

import asyncio
import time

import pytest

from cluster.harness import RedisServer, free_port
from only1mcp.access.shared_buckets import RedisBuckets
from only1mcp.cluster.store import RedisStore
from only1mcp.config.access import RateConfig
from only1mcp.config.cluster import ClusterConfig

pytestmark = pytest.mark.anyio
RATE = RateConfig(per_second=10, burst=10)


async def admitted(buckets: list[RedisBuckets], key: str, calls: int) -> int:
    """``calls`` takes spread over ``buckets`` in turn, a few ms apart (their syncs run)."""
    count = 0
    for n in range(calls):
        count += buckets[n % len(buckets)].take(key, RATE, time.monotonic()) == 0.0
        await asyncio.sleep(0.005)
    return count


async def test_two_processes_share_one_bucket(redis_server: RedisServer) -> None:
    config = ClusterConfig(redis_url=redis_server.url, key_prefix=f"b{time.monotonic_ns()}:")
    stores = [RedisStore(config), RedisStore(config)]
    for store in stores:
        await store.start()
    try:
        began = time.monotonic()
        count = await admitted([RedisBuckets(store) for store in stores], "alice", 60)
        flowed = (time.monotonic() - began) * RATE.per_second
        # the burst, what flowed in, and one call on credit per process at most
        assert RATE.capacity <= count <= RATE.capacity + flowed + 2, (count, flowed)
        assert count < 2 * RATE.capacity  # not one bucket per process
    finally:
        for store in stores:
            await store.close()


async def test_redis_down_counts_in_the_process() -> None:
    store = RedisStore(ClusterConfig(redis_url=f"redis://127.0.0.1:{free_port()}/0"))
    await store.start()
    try:
        assert not store.up
        buckets = RedisBuckets(store)
        now = time.monotonic()
        answers = [buckets.take("alice", RATE, now) for _ in range(12)]
        assert answers[:10] == [0.0] * 10 and all(wait > 0 for wait in answers[10:])
    finally:
        await store.close()
