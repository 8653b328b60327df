"""Prometheus metrics named after the OpenTelemetry MCP semantic conventions.

Recording happens on every request, so it does not go through ``prometheus_client``'s metric
objects (a lock, a label lookup and a bucket walk per observation): each histogram here is a
dict from its label values to a series of bucket counts kept by the Rust core
(:class:`~only1mcp._core.BucketCounts`), and an observation is one call on a series the
recorder resolved once for its labels (see :class:`~only1mcp.telemetry.observer.Observer`):
a quarter of the bisect and two list additions it replaced. The series count into :data:`BOUNDS`,
finer than the semantic conventions' buckets (which are among them), so that the admin
dashboard reads its percentiles from the same counts; the exposition sums them into the
conventions' buckets. The families are built at scrape time by a collector registered on the
:class:`Metrics`' own registry; so are the gauges that describe the gateway's state (backends
up, breakers, restarts, in flight, catalog sizes), which are read from it then rather than kept
up to date on the hot path.

No label ever holds a session or request id; the caller bounds the rest (a tool name not in the
catalog, a method not of MCP, a protocol version we do not speak: each becomes ``_other`` or
``_unknown``).
"""

from __future__ import annotations

import asyncio
import time
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import orjson
from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from only1mcp._core import BucketCounts
from only1mcp.errors import BackendUnavailable, RpcError
from only1mcp.protocol.lists import LIST_METHODS
from only1mcp.protocol.revisions import HANDSHAKE_REVISIONS
from only1mcp.protocol.stateless import STATELESS_REVISIONS

# The buckets the MCP semantic conventions advise for operation and session durations.
SEMCONV_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
# Renard's R10 series: ten steps a decade (each 1.26 times the last), 1, 2 and 5 among them.
_R10 = (1.0, 1.25, 1.6, 2.0, 2.5, 3.15, 4.0, 5.0, 6.3, 8.0)


def _fine_bounds() -> tuple[float, ...]:
    """R10 from 100 µs to 300 s, and every semantic-conventions bound: the buckets the
    histograms count into (a percentile read from them is off by at most one step, 26 %)."""
    steps = {round(m * 10.0**e, 6) for e in range(-4, 3) for m in _R10}
    return tuple(sorted(b for b in steps | set(SEMCONV_BUCKETS) if b <= SEMCONV_BUCKETS[-1]))


BOUNDS = _fine_bounds()
_BOUNDS_LIST = list(BOUNDS)  # what each BucketCounts copies
# For each of BOUNDS (and the overflow after them): the semantic-conventions bucket it is in.
_COARSE = (*(bisect_left(SEMCONV_BUCKETS, b) for b in BOUNDS), len(SEMCONV_BUCKETS))
# The compact ending of most tool results: a frame that ends so is not an error (see error_type).
TOOL_SUCCESS_END = b'"isError":false}}'
OTHER = "_other"
UNKNOWN = "_unknown"
TOOL_ERROR = "tool_error"
KNOWN_METHODS = LIST_METHODS | {
    "initialize",
    "ping",
    "tools/call",
    "prompts/get",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "completion/complete",
    "logging/setLevel",
    "server/discover",
    "subscriptions/listen",
}
KNOWN_VERSIONS = frozenset(HANDSHAKE_REVISIONS) | frozenset(STATELESS_REVISIONS)
# JSON-RPC's reserved range: any other code a server answers with is counted as _other.
_RESERVED_CODES = range(-32768, -31999)
ACCESS_DENIED_TYPE = "-32003"
RATE_LIMITED_TYPE = "-32029"
# Failed tool calls kept for the admin dashboard, and the largest answer kept with one.
RECENT_FAILURES = 50
KEPT_ANSWER = 65536

OPERATION_LABELS = (
    "mcp_method_name",
    "gen_ai_tool_name",
    "gen_ai_prompt_name",
    "error_type",
    "mcp_protocol_version",
)
BACKEND_LABELS = ("server", "replica")


def error_type(frame: bytes) -> str:
    """The ``error_type`` of a response frame: "" on success, the JSON-RPC code of an error,
    ``tool_error`` for a result with ``isError: true``.

    A tool result that ends with ``"isError":false}}`` (the official SDKs' compact form) is a
    success without a scan: its last key belongs to an object the top level closes right
    after, its ``result`` (an ``error`` object with an ``isError`` member of its own would
    pass for a success: no server sends one). Otherwise a scan for ``rror"`` (the end of both
    ``"error"`` and ``"isError"``) rules out most successes; where it is found, only
    ``"error": {`` or ``"isError": true`` has the frame decoded."""
    if frame.endswith(TOOL_SUCCESS_END):
        return ""
    at = frame.find(b'rror"')
    while at != -1:
        # The compact ``"isError":false`` (what most results end with) is checked in place,
        # without slicing: this runs twice per call (the backend's answer, the client's).
        if not frame.startswith(b":false", at + 5) and _names_an_error(frame, at):
            return _decoded_error_type(frame)
        at = frame.find(b'rror"', at + 5)
    return ""


def _names_an_error(frame: bytes, at: int) -> bool:
    """Whether the ``rror"`` at ``at`` ends ``"error": {`` or ``"isError": true``."""
    after = frame[at + 5 : at + 16].lstrip()
    if after[:1] != b":":
        return False
    value = after[1:].lstrip()
    return (value[:1] == b"{" and frame[at - 2 : at] == b'"e') or (
        value[:4] == b"true" and frame[at - 4 : at] == b'"isE'
    )


def _decoded_error_type(frame: bytes) -> str:
    try:
        msg = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return ""
    if not isinstance(msg, dict):
        return ""
    error = msg.get("error")
    if isinstance(error, dict):
        return code_type(error.get("code"))
    result = msg.get("result")
    if isinstance(result, dict) and result.get("isError") is True:
        return TOOL_ERROR
    return ""


def code_type(code: object) -> str:
    if isinstance(code, int) and not isinstance(code, bool) and code in _RESERVED_CODES:
        return str(code)
    return OTHER


def failure_type(exc: BaseException) -> str:
    """The ``error_type`` of a backend call that raised instead of answering."""
    if isinstance(exc, BackendUnavailable):
        return "unavailable"
    if isinstance(exc, RpcError):
        return code_type(exc.code)
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled"
    return "_internal"


def bounded_version(version: str | None) -> str:
    return version if version is not None and version in KNOWN_VERSIONS else OTHER


class Histogram:
    """Label values → the series' counts per bucket of :data:`BOUNDS` (and above the last)
    and their sum."""

    __slots__ = ("doc", "labels", "name", "series")

    def __init__(self, name: str, doc: str, labels: tuple[str, ...]) -> None:
        self.name = name
        self.doc = doc
        self.labels = labels
        self.series: dict[tuple[str, ...], BucketCounts] = {}

    def observe(self, key: tuple[str, ...], value: float) -> None:
        # The hot paths (the observer, the call guard) call observe on a series they
        # resolved once for its labels.
        (self.series.get(key) or self.series_of(key)).observe(value)

    def series_of(self, key: tuple[str, ...]) -> BucketCounts:
        """``key``'s series (created empty the first time)."""
        counts = self.series.get(key)
        if counts is None:
            counts = self.series[key] = BucketCounts(_BOUNDS_LIST)
        return counts

    def family(self) -> HistogramMetricFamily:
        family = HistogramMetricFamily(self.name, self.doc, labels=self.labels)
        bounds = [*(repr(b) for b in SEMCONV_BUCKETS), "+Inf"]
        for key, series in list(self.series.items()):
            counts, total_seconds = series.snapshot()
            coarse = [0.0] * len(bounds)
            for index, count in enumerate(counts):
                coarse[_COARSE[index]] += count
            cumulative, running = [], 0.0
            for bound, in_bucket in zip(bounds, coarse, strict=True):
                running += in_bucket
                cumulative.append((bound, running))
            family.add_metric(list(key), cumulative, total_seconds)
        return family


class Counter:
    """Label values → a count."""

    __slots__ = ("doc", "labels", "name", "series")

    def __init__(self, name: str, doc: str, labels: tuple[str, ...]) -> None:
        self.name = name
        self.doc = doc
        self.labels = labels
        self.series: dict[tuple[str, ...], float] = {}

    def inc(self, key: tuple[str, ...], amount: float = 1.0) -> None:
        self.series[key] = self.series.get(key, 0.0) + amount

    def family(self) -> CounterMetricFamily:
        family = CounterMetricFamily(self.name, self.doc, labels=self.labels)
        for key, value in list(self.series.items()):
            family.add_metric(list(key), value)
        return family


@dataclass(frozen=True, slots=True)
class BackendState:
    """One server (or one replica of a pool) as the gauges show it."""

    server: str
    replica: str
    up: bool
    breaker: str  # closed, open, half_open
    restarts: int
    in_flight: int


@dataclass(frozen=True, slots=True)
class GatewayState:
    """What the scrape reads from the running gateway."""

    backends: list[BackendState] = field(default_factory=list)
    catalog_sizes: dict[str, int] = field(default_factory=dict)
    sessions: int = 0


BREAKER_STATES = ("closed", "open", "half_open")


class Metrics:
    """The registry and everything recorded into it (one per process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.server_ops = Histogram(
            "mcp_server_operation_duration_seconds",
            "MCP requests served to clients, by method, tool or prompt and outcome.",
            OPERATION_LABELS,
        )
        self.client_ops = Histogram(
            "mcp_client_operation_duration_seconds",
            "MCP requests sent to backend servers (each attempt), by server and replica.",
            BACKEND_LABELS + OPERATION_LABELS,
        )
        self.sessions = Histogram(
            "mcp_server_session_duration_seconds",
            "How long client sessions lasted (handshake era), by protocol version.",
            ("mcp_protocol_version",),
        )
        self.breaker_transitions = Counter(
            "only1mcp_breaker_transitions_total",
            "Circuit breaker state changes, seen after each call.",
            (*BACKEND_LABELS, "from_state", "to_state"),
        )
        self.replays = Counter(
            "only1mcp_pool_retries_total",
            "Requests a pool sent to another replica: failover (never sent) or retry (replay).",
            ("server", "kind"),
        )
        self.denied = Counter(
            "only1mcp_access_denied_total",
            "Requests refused by access policy.",
            ("mcp_method_name",),
        )
        self.rate_limited = Counter(
            "only1mcp_rate_limited_total", "Requests refused by a rate limit.", ("mcp_method_name",)
        )
        self.reloads = Counter(
            "only1mcp_config_reloads_total", "Configuration reloads, by result.", ("result",)
        )
        self.generation = 0
        # The latest failed tool calls (wall time, labels, answer; None: too large to keep),
        # for the admin dashboard, which reads the answers only when it shows them.
        self.recent_failures: deque[tuple[float, tuple[str, ...], bytes | None]] = deque(
            maxlen=RECENT_FAILURES
        )
        self._histograms = (self.server_ops, self.client_ops, self.sessions)
        self._counters = (
            self.breaker_transitions,
            self.replays,
            self.denied,
            self.rate_limited,
            self.reloads,
        )
        self.registry.register(_Recorded(self))
        self.registry.register(ProcessCollector(registry=None))

    # ----------------------------------------------------------------- hooks

    def failed(self, key: tuple[str, str, str, str, str], answer: bytes) -> None:
        """Request ``key`` (method, tool, prompt, error type, protocol version) was answered
        with error ``answer``: refusals have counters of their own, tool calls are kept."""
        error = key[3]
        if error == ACCESS_DENIED_TYPE:
            self.denied.inc((key[0],))
        elif error == RATE_LIMITED_TYPE:
            self.rate_limited.inc((key[0],))
        if key[0] == "tools/call":
            kept = answer if len(answer) <= KEPT_ANSWER else None
            self.recent_failures.append((time.time(), key, kept))

    def session_ended(self, version: str, seconds: float) -> None:
        self.sessions.observe((bounded_version(version),), seconds)

    def breaker_moved(self, backend: tuple[str, str], before: str, after: str) -> None:
        self.breaker_transitions.inc((*backend, before, after))

    def replayed(self, server: str, kind: str) -> None:
        """A pool sent a request to another replica (``failover`` or ``retry``)."""
        self.replays.inc((server, kind))

    def config_reloaded(self, ok: bool, generation: int | None = None) -> None:
        """A reload was tried (hot reload calls this): ``generation`` is the running one."""
        self.reloads.inc(("success" if ok else "failure",))
        if generation is not None:
            self.generation = generation

    def watch(self, state: Callable[[], GatewayState]) -> None:
        """Read the gateway's state at each scrape (the composition root passes it)."""
        self.registry.register(_State(state))

    def families(self) -> Iterator[Metric]:
        for histogram in self._histograms:
            yield histogram.family()
        for counter in self._counters:
            yield counter.family()
        generation = GaugeMetricFamily(
            "only1mcp_config_generation", "The configuration generation being served (0: first)."
        )
        generation.add_metric([], self.generation)
        yield generation


class _Recorded(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self.metrics.families()


class _State(Collector):
    def __init__(self, state: Callable[[], GatewayState]) -> None:
        self.state = state

    def collect(self) -> Iterable[Metric]:
        state = self.state()
        labels = list(BACKEND_LABELS)
        up = GaugeMetricFamily("only1mcp_backend_up", "1 when the backend serves.", labels=labels)
        breaker = GaugeMetricFamily(
            "only1mcp_breaker_state",
            "1 for the breaker's current state.",
            labels=[*labels, "state"],
        )
        restarts = CounterMetricFamily(
            "only1mcp_backend_restarts", "Successful restarts of the backend.", labels=labels
        )
        in_flight = GaugeMetricFamily(
            "only1mcp_backend_in_flight_requests", "Requests awaiting the backend.", labels=labels
        )
        for backend in state.backends:
            key = [backend.server, backend.replica]
            up.add_metric(key, 1 if backend.up else 0)
            for name in BREAKER_STATES:
                breaker.add_metric([*key, name], 1 if backend.breaker == name else 0)
            restarts.add_metric(key, backend.restarts)
            in_flight.add_metric(key, backend.in_flight)
        catalog = GaugeMetricFamily(
            "only1mcp_catalog_items", "Items in the merged catalog, by kind.", labels=["kind"]
        )
        for kind, size in state.catalog_sizes.items():
            catalog.add_metric([kind], size)
        sessions = GaugeMetricFamily("only1mcp_sessions", "Client sessions open now.")
        sessions.add_metric([], state.sessions)
        return [up, breaker, restarts, in_flight, catalog, sessions]
