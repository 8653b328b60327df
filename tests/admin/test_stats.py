"""The dashboard's rolling call statistics and the outcome read from a tool call's answer."""

from __future__ import annotations

import orjson
import pytest

from only1mcp.admin.observed import failure
from only1mcp.admin.stats import RECENT_ERRORS, SAMPLES, WINDOW, CallStats, percentile


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_and_percentiles_over_the_window() -> None:
    clock = Clock()
    stats = CallStats(clock, wall=clock)
    for ms in range(1, 101):  # 100 calls in one second: 1 ms … 100 ms
        stats.record("fx", "fx__echo", ms / 1000)
    summary = stats.snapshot()["tools"]["fx__echo"]
    assert summary["calls_per_s"] == 10.0  # 100 calls over the 10 s rate window
    assert summary["p50_ms"] == 50.0
    assert summary["p99_ms"] == 99.0
    assert summary["calls"] == 100 and summary["errors"] == 0
    assert stats.snapshot()["servers"]["fx"]["calls"] == 100


def test_old_seconds_leave_the_rate_then_the_window() -> None:
    clock = Clock()
    stats = CallStats(clock, wall=clock)
    stats.record("fx", "t", 0.5)
    clock.now += 11
    summary = stats.snapshot()["tools"]["t"]
    assert summary["calls_per_s"] == 0 and summary["calls"] == 1 and summary["p99_ms"] == 500.0
    clock.now += WINDOW
    summary = stats.snapshot()["tools"]["t"]
    assert summary["calls"] == 0 and summary["p99_ms"] is None
    assert summary["total"] == 1  # the running total stays


def test_a_burst_keeps_a_bounded_sample() -> None:
    clock = Clock()
    stats = CallStats(clock, wall=clock)
    for _ in range(10 * SAMPLES):
        stats.record("fx", "t", 0.001)
    rolling = stats.tools["t"]
    assert rolling.summary(int(clock.now))["calls"] == 10 * SAMPLES
    assert sum(len(s.latencies) for s in rolling._seconds) == SAMPLES


def test_errors_are_counted_and_the_recent_ones_kept() -> None:
    clock = Clock()
    stats = CallStats(clock, wall=clock)
    for index in range(RECENT_ERRORS + 5):
        stats.record("fx", "fx__fail", 0.01, f"boom {index}")
    assert stats.snapshot()["tools"]["fx__fail"]["errors"] == RECENT_ERRORS + 5
    assert len(stats.errors) == RECENT_ERRORS
    assert stats.errors[0]["message"] == f"boom {RECENT_ERRORS + 4}"  # newest first


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [([], 0.99, None), ([3.0], 0.5, 3.0), ([1.0, 2.0], 0.5, 1.0), ([1.0, 2.0], 0.51, 2.0)],
)
def test_nearest_rank_percentile(
    values: list[float], fraction: float, expected: float | None
) -> None:
    assert percentile(values, fraction) == expected


def frame(body: dict[str, object]) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": 1, **body})


def test_failure_reads_errors_and_tool_errors_only() -> None:
    ok = {"result": {"content": [{"type": "text", "text": "an error? no"}], "isError": False}}
    assert failure(frame(ok)) is None
    assert failure(frame({"error": {"code": -32602, "message": "Unknown tool: x"}})) == (
        "Unknown tool: x"
    )
    bad = {"result": {"content": [{"type": "text", "text": "disk full"}], "isError": True}}
    assert failure(frame(bad)) == "tool error: disk full"
    assert failure(b'{"error": ') == "the answer is not JSON"
