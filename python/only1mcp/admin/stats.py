"""The dashboard's call statistics, read from the metrics' own histograms: calls/s, p50/p99 and
errors per server and per tool, and the recent failed tool calls.

Nothing is recorded for the dashboard on the hot path. Each read (``GET /api/stats``, a tick of
the dashboard's event stream) sums the ``tools/call`` series of the histograms — by tool
``mcp_server_operation_duration_seconds`` (what clients were answered), by server
``mcp_client_operation_duration_seconds`` (the calls sent to it, each attempt) — and keeps that
sample (one per :data:`SAMPLE_EVERY` seconds at most). A window's figures are the difference
between now and the newest sample at least :data:`WINDOW` (:data:`RATE_WINDOW` for calls/s)
seconds old, else the start of the metrics: a window is never shorter than asked, and longer
after a spell without readers. Percentiles are interpolated within the histogram's buckets
(:data:`~only1mcp.telemetry.metrics.BOUNDS`, 26 % apart), as Prometheus' ``histogram_quantile``
does.

With metrics off there is nothing to read: the API and the dashboard say so
(:func:`metrics_off`).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from only1mcp._core import BucketCounts
from only1mcp.catalog import Catalog
from only1mcp.telemetry.metrics import BOUNDS, Metrics
from only1mcp.types import JsonObject

WINDOW = 60  # seconds behind the percentiles and error counts
RATE_WINDOW = 10  # seconds behind calls/s
SAMPLE_EVERY = 1.0  # seconds between two samples kept
MAX_MESSAGE = 300

Clock = Callable[[], float]
Series = dict[tuple[str, ...], BucketCounts]


@dataclass(frozen=True, slots=True)
class Totals:
    """One tool's or server's counts since the start: per bucket, and of them the errors."""

    buckets: tuple[float, ...]  # as the histogram's: one per bound, then the overflow
    calls: float
    errors: float


ZERO = Totals((0,) * (len(BOUNDS) + 1), 0, 0)


@dataclass(frozen=True, slots=True)
class Sample:
    at: float
    tools: dict[str, Totals]
    servers: dict[str, Totals]


class CallStats:
    """Windows over the metrics' ``tools/call`` histograms (``tools``: the catalog that names
    a failed call's server)."""

    def __init__(self, metrics: Metrics, tools: Catalog, clock: Clock = time.monotonic) -> None:
        self._metrics = metrics
        self._tools = tools
        self._clock = clock
        self._origin = Sample(clock(), {}, {})
        self._samples: deque[Sample] = deque()

    def snapshot(self) -> dict[str, Any]:
        now = self._sample()
        rate_base = self._base(now.at - RATE_WINDOW)
        window_base = self._base(now.at - WINDOW)

        def summaries(kind: str) -> dict[str, dict[str, Any]]:
            current: dict[str, Totals] = getattr(now, kind)
            return {
                name: summary(
                    totals,
                    getattr(rate_base, kind).get(name, ZERO),
                    getattr(window_base, kind).get(name, ZERO),
                    max(now.at - rate_base.at, 1e-9),
                )
                for name, totals in sorted(current.items())
            }

        return {
            "metrics": True,
            "window_s": WINDOW,
            "servers": summaries("servers"),
            "tools": summaries("tools"),
            "errors": self.recent_errors(),
        }

    def recent_errors(self) -> list[dict[str, Any]]:
        """The latest failed tool calls, newest first, their answers read now."""
        shown = []
        for at, labels, answer in reversed(self._metrics.recent_failures):
            tool = labels[1]
            entry = self._tools.lookup(tool)
            message = "(the answer was too large to keep)" if answer is None else failure(answer)
            shown.append(
                {
                    "at": at,
                    "server": entry.server if entry is not None else "?",
                    "tool": tool,
                    "message": message or labels[3],
                }
            )
        return shown

    def _sample(self) -> Sample:
        """The totals now; kept as a sample unless the last one is younger than
        :data:`SAMPLE_EVERY` (and the samples no window needs any more dropped)."""
        last = self._samples[-1] if self._samples else self._origin
        metrics = self._metrics
        now = Sample(
            self._clock(),
            totals(metrics.server_ops.series, (0, 1, 3), last.tools),
            totals(metrics.client_ops.series, (2, 0, 5), last.servers),
        )
        if now.at - last.at >= SAMPLE_EVERY:
            self._samples.append(now)
        samples = self._samples
        while len(samples) > 1 and samples[1].at <= now.at - WINDOW:
            samples.popleft()
        return now

    def _base(self, at: float) -> Sample:
        """The newest sample taken at or before ``at`` (the origin when there is none)."""
        found = self._origin
        for sample in self._samples:
            if sample.at > at:
                break
            found = sample
        return found


def totals(series: Series, at: tuple[int, int, int], last: dict[str, Totals]) -> dict[str, Totals]:
    """The ``tools/call`` series summed by one label; ``at``: the positions of the method, that
    label and the error type in a series' key. A total that has not moved since ``last`` is
    that same object (a sample costs nothing for a quiet key)."""
    method_at, name_at, error_at = at
    sums: dict[str, list[int]] = {}
    errors: dict[str, float] = {}
    for key, counts in list(series.items()):
        if key[method_at] != "tools/call":
            continue
        name = key[name_at]
        buckets = counts.snapshot()[0]
        found = sums.get(name)
        sums[name] = (
            buckets if found is None else [a + b for a, b in zip(found, buckets, strict=True)]
        )
        failed = sum(buckets) if key[error_at] else 0
        errors[name] = errors.get(name, 0) + failed
    result = {}
    for name, buckets in sums.items():
        calls = sum(buckets)
        before = last.get(name)
        if before is not None and before.calls == calls:
            result[name] = before
        else:
            result[name] = Totals(tuple(buckets), calls, errors[name])
    return result


def summary(now: Totals, rate_base: Totals, window_base: Totals, rate_s: float) -> dict[str, Any]:
    """One row: calls/s since ``rate_base`` (``rate_s`` ago), calls, errors and percentiles
    since ``window_base``, and the total since the start."""
    window = [a - b for a, b in zip(now.buckets, window_base.buckets, strict=True)]
    return {
        "calls_per_s": round((now.calls - rate_base.calls) / rate_s, 3),
        "calls": int(now.calls - window_base.calls),
        "errors": int(now.errors - window_base.errors),
        "p50_ms": _ms(quantile(window, 0.50)),
        "p99_ms": _ms(quantile(window, 0.99)),
        "total": int(now.calls),
    }


def quantile(buckets: Iterable[float], fraction: float) -> float | None:
    """The ``fraction`` quantile of counts per bucket of :data:`BOUNDS` (the last: above
    them), linear within its bucket; None with no count at all."""
    counts = list(buckets)
    total = sum(counts)
    if total <= 0:
        return None
    rank = fraction * total
    seen = 0.0
    for index, count in enumerate(counts):
        if count > 0 and seen + count >= rank:
            if index == len(BOUNDS):  # above the last bound: that bound is all we know
                return BOUNDS[-1]
            lower = BOUNDS[index - 1] if index else 0.0
            return lower + (BOUNDS[index] - lower) * (rank - seen) / count
        seen += count
    return BOUNDS[-1]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def metrics_off() -> dict[str, Any]:
    """What the API answers for the statistics when ``metrics.enabled`` is false."""
    return {"metrics": False, "window_s": WINDOW, "servers": {}, "tools": {}, "errors": []}


def failure(answer: bytes) -> str | None:
    """What went wrong, for a JSON-RPC error or a result with ``isError`` (None: neither)."""
    try:
        msg = orjson.loads(answer)
    except orjson.JSONDecodeError:
        return "the answer is not JSON"
    if not isinstance(msg, dict):
        return None
    error = msg.get("error")
    if isinstance(error, dict):
        return str(error.get("message", "error"))[:MAX_MESSAGE]
    result = msg.get("result")
    if isinstance(result, dict) and result.get("isError") is True:
        return "tool error: " + _first_text(result)[:MAX_MESSAGE]
    return None


def _first_text(result: JsonObject) -> str:
    content = result.get("content")
    if isinstance(content, list):
        for block in content:
            if isinstance(block, dict) and isinstance(block.get("text"), str):
                return str(block["text"])
    return "(no text)"
