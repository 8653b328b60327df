"""The dashboard's call statistics, read from the metrics' histograms through the same observer
and call guard the fronts and backends record with, and the outcome read from an answer."""

from __future__ import annotations

import asyncio
from time import perf_counter

import orjson
import pytest

from only1mcp.admin.stats import WINDOW, CallStats, failure, quantile
from only1mcp.backends.base import Outbound
from only1mcp.backends.breaker import make_breaker
from only1mcp.backends.guard import CallGuard, Timeouts
from only1mcp.catalog import Catalog
from only1mcp.telemetry.metrics import BOUNDS, RECENT_FAILURES, Metrics
from only1mcp.telemetry.observer import Observer

VERSION = "2025-11-25"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def frame(**body: object) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": 1, **body})


OK = frame(result={"content": [{"type": "text", "text": "fine"}], "isError": False})


class Recorder:
    """Metrics, an observer over a catalog with the tools fx__echo and fx__fail, and stats."""

    def __init__(self, clock: Clock) -> None:
        self.metrics = Metrics()
        tools = Catalog(["fx"], {"fx": "fx"}, "__", "name")
        tools.set_items("fx", [{"name": "echo"}, {"name": "fail"}])
        prompts = Catalog([], {}, "__", "name")
        self.observer = Observer(self.metrics, None, {"tools": tools, "prompts": prompts})
        self.stats = CallStats(self.metrics, tools, clock)

    def call(self, tool: str, seconds: float, answer: bytes = OK) -> None:
        msg = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool}}
        # begun: a perf_counter reading `seconds` ago, as the front's begin would have made
        self.observer.end(_ago(seconds), msg, answer, VERSION)


def _ago(seconds: float) -> float:
    return perf_counter() - seconds


def test_rate_and_percentiles_over_the_window() -> None:
    clock = Clock()
    recorder = Recorder(clock)
    clock.now += 10
    for ms in range(1, 101):  # 100 calls: 1 ms … 100 ms
        recorder.call("fx__echo", ms / 1000)
    summary = recorder.stats.snapshot()["tools"]["fx__echo"]
    assert summary["calls_per_s"] == 10.0  # 100 calls over the 10 s since the start
    assert summary["p50_ms"] == pytest.approx(50, rel=0.05)  # within the bucket's width
    assert summary["p99_ms"] == pytest.approx(99, rel=0.05)
    assert summary["calls"] == 100 and summary["errors"] == 0 and summary["total"] == 100


def test_old_calls_leave_the_rate_then_the_window() -> None:
    clock = Clock()
    recorder = Recorder(clock)
    recorder.call("fx__echo", 0.5)
    clock.now += 1
    recorder.stats.snapshot()  # a reader: the sample the windows start from
    clock.now += 11
    summary = recorder.stats.snapshot()["tools"]["fx__echo"]
    assert summary["calls_per_s"] == 0 and summary["calls"] == 1
    assert summary["p99_ms"] == pytest.approx(500, rel=0.26)
    clock.now += WINDOW
    summary = recorder.stats.snapshot()["tools"]["fx__echo"]
    assert summary["calls"] == 0 and summary["p99_ms"] is None
    assert summary["total"] == 1  # the running total stays


def test_servers_are_the_backend_calls() -> None:
    clock = Clock()
    recorder = Recorder(clock)
    guard = CallGuard("fx", Timeouts(5), make_breaker(), recorder.metrics, lambda: VERSION)
    guard.reconnected()

    async def send(call: Outbound, timeout: float) -> bytes:
        return OK

    for _ in range(3):
        call = Outbound(b"{}", 1, "tools/call", params={"name": "echo"})
        asyncio.run(guard.call(send, call))
    asyncio.run(guard.call(send, Outbound(b"{}", 2, "ping")))  # not a tool call
    servers = recorder.stats.snapshot()["servers"]
    assert servers["fx"]["total"] == 3 and servers["fx"]["errors"] == 0


def test_errors_are_counted_and_the_recent_ones_kept() -> None:
    clock = Clock()
    recorder = Recorder(clock)
    for index in range(RECENT_FAILURES + 5):
        failed = frame(
            result={"content": [{"type": "text", "text": f"boom {index}"}], "isError": True}
        )
        recorder.call("fx__fail", 0.01, failed)
    recorder.call("fx__nope", 0.01, frame(error={"code": -32602, "message": "Unknown tool"}))
    stats = recorder.stats.snapshot()
    assert stats["tools"]["fx__fail"]["errors"] == RECENT_FAILURES + 5
    assert len(stats["errors"]) == RECENT_FAILURES
    newest, second = stats["errors"][:2]
    assert newest == {
        "at": newest["at"],
        "server": "?",
        "tool": "_unknown",
        "message": "Unknown tool",
    }
    assert second["server"] == "fx" and second["tool"] == "fx__fail"
    assert second["message"] == f"tool error: boom {RECENT_FAILURES + 4}"  # newest first


def test_quantiles_interpolate_within_a_bucket() -> None:
    counts = [0.0] * (len(BOUNDS) + 1)
    assert quantile(counts, 0.99) is None
    counts[BOUNDS.index(0.001)] = 10  # ten calls in (0.8 ms, 1 ms]
    assert quantile(counts, 0.5) == pytest.approx(0.0009)
    counts[-1] = 90  # ninety above the last bound: that bound is all that is known
    assert quantile(counts, 0.99) == BOUNDS[-1]


def test_failure_reads_errors_and_tool_errors_only() -> None:
    ok = {"result": {"content": [{"type": "text", "text": "an error? no"}], "isError": False}}
    assert failure(frame(**ok)) is None
    assert failure(frame(error={"code": -32602, "message": "Unknown tool: x"})) == (
        "Unknown tool: x"
    )
    bad = {"result": {"content": [{"type": "text", "text": "disk full"}], "isError": True}}
    assert failure(frame(**bad)) == "tool error: disk full"
    assert failure(b'{"error": ') == "the answer is not JSON"
