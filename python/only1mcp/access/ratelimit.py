"""Rate limits: token buckets, in this process for now behind :class:`Buckets` (a later
store shared between instances, Redis say, implements the same one method)."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Protocol

from only1mcp.config.access import RateConfig

MAX_BUCKETS = 100_000  # keys are principals and tools: bounded, the full (idle) ones go first


class Buckets(Protocol):
    def take(self, key: Hashable, rate: RateConfig, now: float) -> float:
        """Take one token from the bucket ``key`` (filled at ``rate``): 0 when there was one,
        else the seconds until there will be."""


class LocalBuckets:
    """Buckets in a dict: [tokens, when last counted, tokens per second, capacity]."""

    def __init__(self, limit: int = MAX_BUCKETS) -> None:
        self._levels: dict[Hashable, list[float]] = {}
        self._limit = limit

    def take(self, key: Hashable, rate: RateConfig, now: float) -> float:
        level = self._levels.get(key)
        if level is None:
            if len(self._levels) >= self._limit:
                self._forget_full(now)
            capacity = rate.capacity
            level = self._levels[key] = [capacity, now, rate.per_second, capacity]
        tokens = min(level[3], level[0] + (now - level[1]) * level[2])
        level[1] = now
        if tokens >= 1.0:
            level[0] = tokens - 1.0
            return 0.0
        level[0] = tokens
        return (1.0 - tokens) / level[2]

    def _forget_full(self, now: float) -> None:
        """Drop the buckets that have refilled (a new one is the same); if none has, all."""
        full = [
            key
            for key, (tokens, last, per_second, capacity) in self._levels.items()
            if tokens + (now - last) * per_second >= capacity
        ]
        if not full:
            self._levels.clear()
        for key in full:
            del self._levels[key]

    def __len__(self) -> int:
        return len(self._levels)
