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
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from only1mcp.backends.base import Outbound
from only1mcp.backends.breaker import Breaker, Clock, make_breaker
from only1mcp.config.policies import BreakerConfig, TimeoutsConfig
from only1mcp.errors import BackendError, BackendTimeout
from only1mcp.types import JsonObject

# A transport's send: (the request, its timeout) → the response frame.
Send = Callable[[Outbound, float], Awaitable[bytes]]


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
    """Sends calls through a transport's ``send`` with their timeout, and keeps the breaker."""

    def __init__(self, name: str, timeouts: Timeouts, breaker: Breaker) -> None:
        self.name = name
        self.timeouts = timeouts
        self.breaker = breaker
        self.epoch = 0
        # request id → (its timeout scope, its timeout, the latest deadline progress may reach)
        self._extensible: dict[int, tuple[asyncio.Timeout, float, float]] = {}

    def reconnected(self) -> None:
        """A fresh connection owes nothing to the old one's failures."""
        self.epoch += 1
        self.breaker.reset()

    async def call(self, send: Send, call: Outbound) -> bytes:
        """``send`` one call (its breaker slot already taken), recording how it went."""
        timeouts = self.timeouts
        timeout = timeouts.of_call(call.method, call.params) if timeouts.tools else timeouts.default
        epoch = self.epoch
        breaker = self.breaker
        try:
            if timeouts.max_with_progress is not None and _reports_progress(call.params):
                answer = await self._extensible_call(send, call, timeout)
            else:
                answer = await send(call, timeout)
        except BackendError:
            if epoch == self.epoch:
                breaker.record_failure()
            raise
        except BaseException:
            breaker.record_success()  # cancelled by the client: frees a probe slot
            raise
        breaker.record_success()
        return answer

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
