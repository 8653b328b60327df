"""The breaker policy and the timeouts of one server's calls.

Passive failure detection: transport errors and timeouts of real calls (not the server's own
error answers) are recorded on the Rust :class:`CircuitBreaker`; a call the client cancelled
counts as a success (it frees a half-open probe slot). Each (re)connection starts a new epoch
and resets the breaker: a call's failure counts only in the epoch it was sent in (a killed
process's calls are failed after it was replaced, and must not reopen the fresh breaker).

Timeouts: the server's, a tool's own (``timeouts.tools``), and — for calls that carry a progress
token on servers with ``timeouts.max_with_progress`` — a timeout that each progress
notification restarts, within that cap.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from only1mcp._core import BucketCounts
from only1mcp.backends.base import Outbound
from only1mcp.backends.breaker import Breaker, Clock, make_breaker
from only1mcp.config.policies import BreakerConfig, TimeoutsConfig
from only1mcp.errors import BackendError, BackendTimeout
from only1mcp.telemetry.metrics import (
    KNOWN_METHODS,
    OTHER,
    TOOL_SUCCESS_END,
    Metrics,
    bounded_version,
    error_type,
    failure_type,
)
from only1mcp.types import JsonObject

# A transport's send: (the request, its timeout) → the response frame.
Send = Callable[[Outbound, float], Awaitable[bytes]]
# The methods that name their tool or prompt in params.name.
_NAMED = frozenset(("tools/call", "prompts/get"))
# A pool's replica is named "<pool>[<index>]".
_REPLICA = re.compile(r"(.*)\[(\d+)\]")


@dataclass(frozen=True, slots=True)
class Timeouts:
    """How long a server's calls may take."""

    default: float
    tools: Mapping[str, float] = field(default_factory=dict)
    # How long a call that reports progress may run in all (None: progress extends nothing).
    max_with_progress: float | None = None

    @classmethod
    def of(cls, timeout: float, config: TimeoutsConfig) -> Timeouts:
        return cls(timeout, dict(config.tools), config.max_with_progress)

    def of_call(self, method: str, params: JsonObject | None) -> float:
        """The timeout of one call: its tool's own, else the server's."""
        if self.tools and method == "tools/call" and params is not None:
            name = params.get("name")
            if isinstance(name, str):
                return self.tools.get(name, self.default)
        return self.default


def breaker_of(config: BreakerConfig, clock: Clock = time.monotonic) -> Breaker:
    """The breaker of ``config`` (on ``clock``: a test may step it, see :mod:`.breaker`)."""
    return make_breaker(config.failures, config.window, config.cooldown, clock=clock)


class CallGuard:
    """Sends calls through a transport's ``send`` with their timeout, and keeps the breaker.

    With ``metrics``, each call is timed and counted (``mcp_client_operation_duration_seconds``
    with the server and replica, the breaker's transitions, the calls in flight); without, the
    plain path is the only one."""

    def __init__(
        self,
        name: str,
        timeouts: Timeouts,
        breaker: Breaker,
        metrics: Metrics | None = None,
        version: Callable[[], str] = str,
    ) -> None:
        self.name = name
        self.timeouts = timeouts
        self.breaker = breaker
        self.epoch = 0
        # request id → (its timeout scope, its timeout, the latest deadline progress may reach)
        self._extensible: dict[int, tuple[asyncio.Timeout, float, float]] = {}
        self.in_flight = 0
        found = _REPLICA.fullmatch(name)
        self.labels = (found[1], found[2]) if found else (name, "")
        # The histogram each call goes to, and the protocol version label: read at each
        # (re)connection, which is when it can change.
        self._calls = None if metrics is None else metrics.client_ops
        self._metrics = metrics
        self._version = version
        self._version_label = OTHER
        self._breaker_seen = "closed"
        # A success's series by method, then tool or prompt name ("": the method names none):
        # resolved once per connection (the version label is the connection's).
        self._ok: dict[str, dict[str, BucketCounts]] = {}

    def reconnected(self) -> None:
        """A fresh connection owes nothing to the old one's failures."""
        self.epoch += 1
        self.breaker.reset()
        self._version_label = bounded_version(self._version())
        self._ok = {}

    async def call(self, send: Send, call: Outbound) -> bytes:
        """``send`` one call (its breaker slot already taken), recording how it went (and,
        with metrics, how long it took: no frame of its own around the call)."""
        timeouts = self.timeouts
        timeout = timeouts.of_call(call.method, call.params) if timeouts.tools else timeouts.default
        epoch = self.epoch
        breaker = self.breaker
        started = 0.0
        if self._calls is not None:
            started = time.perf_counter()
            self.in_flight += 1
        try:
            if timeouts.max_with_progress is not None and _reports_progress(call.params):
                answer = await self._extensible_call(send, call, timeout)
            else:
                answer = await send(call, timeout)
        except BackendError as exc:
            if epoch == self.epoch:
                breaker.record_failure()
            if self._calls is not None:
                self._record(call, failure_type(exc), started)
            raise
        except BaseException as exc:
            breaker.record_success()  # cancelled by the client: frees a probe slot
            if self._calls is not None:
                self._record(call, failure_type(exc), started)
            raise
        breaker.record_success()
        if self._calls is not None:
            # error_type's first test in place: a frame less for most tool results
            ok = answer.endswith(TOOL_SUCCESS_END)
            self._record(call, "" if ok else error_type(answer), started)
        return answer

    def _record(self, call: Outbound, error: str, started: float) -> None:
        seconds = time.perf_counter() - started
        self.in_flight -= 1
        counts = None
        if not error:
            method = call.method
            try:
                by_name = self._ok[method]
                counts = by_name[call.params["name"] if method in _NAMED else ""]  # type: ignore[index]
            except (KeyError, TypeError):
                pass
        if counts is None:
            counts = self._series(call, error)
        counts.observe(seconds)
        # A success leaves a closed breaker closed: its state is read after anything else.
        if error or self._breaker_seen != "closed":
            state = self.breaker.state
            if state != self._breaker_seen:
                assert self._metrics is not None
                self._metrics.breaker_moved(self.labels, self._breaker_seen, state)
                self._breaker_seen = state

    def _series(self, call: Outbound, error: str) -> BucketCounts:
        """The counts of ``call``'s labels (bounded: a known method; a tool or prompt name is
        the server's own, which only the catalog gave it); a success's are remembered."""
        assert self._calls is not None
        method = call.method
        server, replica = self.labels
        name = ""
        if method in _NAMED:
            params = call.params
            found = params.get("name") if params is not None else None
            name = found if isinstance(found, str) else OTHER
            tool, prompt = (name, "") if method == "tools/call" else ("", name)
            key = (server, replica, method, tool, prompt, error, self._version_label)
        else:
            known = method if method in KNOWN_METHODS else OTHER
            key = (server, replica, known, "", "", error, self._version_label)
        counts = self._calls.series_of(key)
        if not error and key[2] == method and name != OTHER:
            self._ok.setdefault(method, {})[name] = counts
        return counts

    async def _extensible_call(self, send: Send, call: Outbound, timeout: float) -> bytes:
        """A send whose timeout each progress notification restarts, within the cap."""
        cap = self.timeouts.max_with_progress or timeout
        latest = asyncio.get_running_loop().time() + cap
        try:
            async with asyncio.timeout(timeout) as scope:
                self._extensible[call.id] = (scope, timeout, latest)
                return await send(call, cap)
        except TimeoutError as exc:
            raise BackendTimeout(
                f"server {self.name!r} did not answer {call.method} within {timeout:g}s "
                "of its last progress notification"
            ) from exc
        finally:
            self._extensible.pop(call.id, None)

    def progressed(self, req_id: int) -> None:
        """Request ``req_id`` reported progress: its timeout starts again (up to the cap)."""
        entry = self._extensible.get(req_id)
        if entry is not None:
            scope, timeout, latest = entry
            scope.reschedule(min(asyncio.get_running_loop().time() + timeout, latest))


def _reports_progress(params: JsonObject | None) -> bool:
    meta = params.get("_meta") if params is not None else None
    return isinstance(meta, dict) and meta.get("progressToken") is not None
