"""Rolling call statistics for the dashboard: calls/s, p50/p99 and errors per server and tool.

Each key keeps one bucket per second for :data:`WINDOW` seconds. A bucket counts every call and
keeps at most :data:`SAMPLES` latencies (a reservoir: a burst cannot grow it), from which the
percentiles of the window are read. Recording is a dict lookup and an append; reading (once a
second, by the dashboard's stream) does the sorting.
"""

from __future__ import annotations

import collections
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

WINDOW = 60  # seconds of history behind the percentiles
RATE_WINDOW = 10  # seconds behind calls/s
SAMPLES = 128  # latencies kept per key and second
RECENT_ERRORS = 50

Clock = Callable[[], float]


@dataclass(slots=True)
class _Second:
    at: int
    calls: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)

    def add(self, seconds: float, failed: bool) -> None:
        self.calls += 1
        if failed:
            self.errors += 1
        latencies = self.latencies
        if len(latencies) < SAMPLES:
            latencies.append(seconds)
        else:  # reservoir sampling: every call of the second equally likely to be kept
            slot = int(random.random() * self.calls)
            if slot < SAMPLES:
                latencies[slot] = seconds


class Rolling:
    """One key's last :data:`WINDOW` seconds."""

    __slots__ = ("_seconds", "total")

    def __init__(self) -> None:
        self._seconds: collections.deque[_Second] = collections.deque(maxlen=WINDOW)
        self.total = 0

    def add(self, now: int, seconds: float, failed: bool) -> None:
        seconds_ = self._seconds
        if not seconds_ or seconds_[-1].at != now:
            seconds_.append(_Second(now))
        seconds_[-1].add(seconds, failed)
        self.total += 1

    def summary(self, now: int) -> dict[str, Any]:
        recent = [s for s in self._seconds if now - s.at < WINDOW]
        rate = sum(s.calls for s in recent if now - s.at < RATE_WINDOW) / RATE_WINDOW
        latencies = sorted(x for s in recent for x in s.latencies)
        return {
            "calls_per_s": round(rate, 3),
            "calls": sum(s.calls for s in recent),
            "errors": sum(s.errors for s in recent),
            "p50_ms": _ms(percentile(latencies, 0.50)),
            "p99_ms": _ms(percentile(latencies, 0.99)),
            "total": self.total,
        }


def percentile(ordered: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile of an ascending list (None when it is empty)."""
    if not ordered:
        return None
    return ordered[max(1, math.ceil(len(ordered) * fraction)) - 1]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


class CallStats:
    """Every tool call's server, tool, latency and outcome, over a rolling window."""

    def __init__(self, clock: Clock = time.monotonic, wall: Clock = time.time) -> None:
        self._clock = clock
        self._wall = wall
        self.servers: dict[str, Rolling] = {}
        self.tools: dict[str, Rolling] = {}
        self.errors: collections.deque[dict[str, Any]] = collections.deque(maxlen=RECENT_ERRORS)

    def record(self, server: str, tool: str, seconds: float, error: str | None = None) -> None:
        now = int(self._clock())
        failed = error is not None
        _rolling(self.servers, server).add(now, seconds, failed)
        _rolling(self.tools, tool).add(now, seconds, failed)
        if failed:
            self.errors.appendleft(
                {"at": self._wall(), "server": server, "tool": tool, "message": error}
            )

    def snapshot(self) -> dict[str, Any]:
        now = int(self._clock())
        return {
            "window_s": WINDOW,
            "servers": {name: r.summary(now) for name, r in sorted(self.servers.items())},
            "tools": {name: r.summary(now) for name, r in sorted(self.tools.items())},
        }


def _rolling(table: dict[str, Rolling], key: str) -> Rolling:
    found = table.get(key)
    if found is None:
        found = table[key] = Rolling()
    return found
