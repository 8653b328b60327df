"""One MCP server over one transport, composed at construction from its collaborators.

:class:`ServerBackend` speaks the :class:`~.base.Backend` contract for a single server. Its
transport subclasses (:mod:`.stdio`, :mod:`.http`, :mod:`.sse` via :mod:`.multiplexed`)
implement only the transport part — ``connect``, ``disconnect``, ``send_request``, ``abandon``,
``notify`` — and report a lost connection with :meth:`ServerBackend.lost` and unsolicited
frames with :meth:`ServerBackend.deliver`. The rest belongs to collaborators built from the
server's config:

* :class:`~.supervisor.Supervisor` — restarts with backoff, crash loops;
* :class:`~.guard.CallGuard` — the breaker policy and the call timeouts;
* :class:`~.eras.EraProbe` — which era the server speaks (discover probe, else initialize);
* :class:`~.health.HealthMonitor` — pings, half-open probes, the memory cap;
* :class:`~.listen.Watch` — a 2026 server's standing ``subscriptions/listen`` stream.
"""

from __future__ import annotations

import collections
from abc import abstractmethod
from collections.abc import Coroutine
from typing import Any, NoReturn

from only1mcp.backends.base import (
    Backend,
    BackendState,
    Outbound,
    Wiring,
    log,
)
from only1mcp.backends.breaker import Breaker
from only1mcp.backends.eras import EraProbe
from only1mcp.backends.guard import CallGuard, Timeouts, breaker_of
from only1mcp.backends.health import HealthMonitor
from only1mcp.backends.listen import Watch
from only1mcp.backends.supervisor import Supervisor
from only1mcp.config import HttpServerConfig, Protocol, StdioServerConfig
from only1mcp.errors import BackendError, BackendTimeout, BackendUnavailable

STDERR_TAIL_LINES = 50
# The config of one server over one transport (a pool's replicas get one each).
TransportConfig = StdioServerConfig | HttpServerConfig


class ServerBackend(Backend):
    """One server: the contract, over a transport its subclass implements."""

    # The era probe for this transport (stdio pipelines the probe and initialize).
    probe_type: type[EraProbe] = EraProbe

    def __init__(self, name: str, config: TransportConfig, wiring: Wiring | None = None) -> None:
        super().__init__(name, wiring)
        self.timeout = config.timeout
        self._state = BackendState.STARTING
        self.last_error = ""
        self._closing = False
        # Cleared by failed active health checks: an unhealthy backend gets no traffic.
        self._healthy = True
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        self.guard = CallGuard(
            name,
            Timeouts.of(config.timeout, config.timeouts),
            breaker_of(config.breaker),
            self.wiring.metrics,
            lambda: self.version,
        )
        self.supervisor = Supervisor(name, config.restart, self._bring_up, self._crash_loop)
        self.eras = self.probe_type(self, self.era_setting(config))
        memory_limit = config.memory_limit_mb if isinstance(config, StdioServerConfig) else None
        self.monitor = HealthMonitor(self, config.health, memory_limit)
        self._send = self.send_request  # bound once: it is passed on every relayed call
        self.watch = Watch(name, lambda: self.capabilities, self.request, self.deliver)

    def era_setting(self, config: TransportConfig) -> Protocol:
        """Which era(s) this transport may find (the config's ``protocol``)."""
        return config.protocol

    # ------------------------------------------------------------------ state

    @property
    def state(self) -> BackendState:
        return self._state

    @state.setter
    def state(self, value: BackendState) -> None:
        self._state = value
        Backend.generation += 1

    @property
    def healthy(self) -> bool:
        return self._healthy

    @healthy.setter
    def healthy(self, value: bool) -> None:
        if value is not self._healthy:
            self._healthy = value
            Backend.generation += 1

    @property
    def breaker(self) -> Breaker:
        return self.guard.breaker

    @property
    def restarts(self) -> int:
        return self.supervisor.restarts

    @property
    def crash_looping(self) -> bool:
        return self.supervisor.crash_looping

    @property
    def pid(self) -> int | None:
        """The process serving this backend, when it is a local process."""
        return None

    @property
    def problem(self) -> str:
        if self.supervisor.crash_looping:
            failures = self.supervisor.failures
            why = f"crash loop ({failures} failed restarts in a row); last: {self.last_error}"
            return f"{why}; stderr: {self.stderr_tail[-1]}" if self.stderr_tail else why
        if self._state is not BackendState.READY:
            return self.last_error or self._state.value
        if not self._healthy:
            return "unhealthy: it did not answer its health checks"
        return ""

    # -------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Connect (spawn), settle the era and become READY, or raise BackendError.

        A failed start leaves the backend DOWN with a reconnect scheduled.
        """
        self.monitor.start()
        try:
            await self._bring_up()
        except BackendError:
            self.supervisor.schedule()
            raise

    async def _bring_up(self) -> None:
        self.state = BackendState.STARTING
        try:
            await self.connect()
            await self.handshake()
        except BackendError as exc:
            self.mark_down(str(exc))
            await self.disconnect()
            raise
        self.state = BackendState.READY
        self.last_error = ""
        self.supervisor.up()
        self.guard.reconnected()
        if self.wiring.on_ready:
            await self.wiring.on_ready(self)
        if self.stateless:
            self.watch.start()

    async def handshake(self) -> None:
        """Settle the server's era (again: an HTTP server that forgot our session)."""
        await self.eras.settle()

    def _crash_loop(self) -> None:
        Backend.generation += 1
        log.error("server %r: %s", self.name, self.problem)
        if self.wiring.on_crash_loop is not None:
            self.wiring.on_crash_loop(self)

    async def close(self) -> None:
        self._closing = True
        self.state = BackendState.CLOSED
        self.last_error = "closed"
        self.supervisor.stop()
        self.monitor.stop()
        self.watch.stop()
        await self.disconnect()

    def mark_down(self, reason: str) -> None:
        if self._state is not BackendState.CLOSED:
            self.state = BackendState.DOWN
            self.last_error = reason
        self.watch.stop()

    def lost(self, reason: str) -> None:
        """The transport lost its connection: down, and reconnecting with backoff."""
        self.mark_down(reason)
        self.supervisor.schedule()

    # --------------------------------------------------------------- requests

    def forward(self, call: Outbound) -> Coroutine[Any, Any, bytes]:
        """Relay a client's request, guarded by this server's state, health and breaker.

        Not a coroutine of its own: it hands back the guard's (one coroutine less per relayed
        call); a request refused here raises where it is awaited, as from a coroutine."""
        guard = self.guard
        if self._state is not BackendState.READY or not self._healthy or not guard.breaker.allow():
            return _raise(self.unavailable())
        return guard.call(self._send, call)

    def progressed(self, req_id: int) -> None:
        self.guard.progressed(req_id)

    async def send_own(self, call: Outbound, timeout: float | None) -> bytes:
        """Straight to the transport (no breaker: health pings are our own requests)."""
        return await self.send_request(call, timeout or self.timeout)

    async def subscribe(self, uri: str) -> None:
        await self.watch.subscribe(uri)

    def unsubscribe(self, uri: str) -> None:
        self.watch.unsubscribe(uri)

    def deliver(self, frame: bytes) -> None:
        """Hand unsolicited traffic to ``on_message`` without blocking the reader."""
        handler = self.wiring.on_message
        if handler is None:
            return
        if self.stateless:
            found = self.watch.incoming(frame)  # listen frames lose their subscription tag
            if found is None:
                return
            frame = found
        self.spawn(handler(self, frame))

    # ---------------------------------------------------------------- errors

    def down_error(self) -> BackendError:
        return BackendError(f"server {self.name!r} is down: {self.last_error or 'not running'}")

    def unavailable(self) -> BackendUnavailable:
        """The error for a request refused before it was sent."""
        if self._state is not BackendState.READY:
            return BackendUnavailable(f"server {self.name!r} is down: {self.problem}")
        if not self._healthy:
            return BackendUnavailable(f"server {self.name!r} is {self.problem}")
        return BackendUnavailable(
            f"server {self.name!r} is unavailable: circuit open after repeated failures"
        )

    def timeout_error(self, method: str, timeout: float) -> BackendTimeout:
        return BackendTimeout(f"server {self.name!r} did not answer {method} within {timeout:g}s")

    # ------------------------------------------------------------- transport

    @abstractmethod
    async def connect(self) -> None:
        """Open the transport (spawn the process, open the HTTP client)."""

    @abstractmethod
    async def disconnect(self) -> None:
        """Tear the transport down; pending requests fail."""

    @abstractmethod
    async def send_request(self, call: Outbound, timeout: float) -> bytes:
        """Send ``call`` and return the raw response frame. Messages the server ties to it go
        to its sink (where the transport can tell); its headers are a 2026 request's.

        Raises BackendError when the server is down, BackendTimeout after ``timeout`` seconds.
        """


async def _raise(error: BaseException) -> NoReturn:
    raise error
