"""The contract every backend transport implements; the router never branches on the kind.

A backend owns one connection to one MCP server: it performs the initialize handshake itself,
multiplexes requests from every client session over that connection with backend-local ids,
and hands unsolicited traffic (notifications, server→client requests) to ``on_message``.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import itertools
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from only1mcp._core import CircuitBreaker
from only1mcp.config.policies import RestartConfig
from only1mcp.errors import BackendError, BackendTimeout, BackendUnavailable, RequestCancelled
from only1mcp.protocol import jsonrpc
from only1mcp.protocol.revisions import LATEST_HANDSHAKE
from only1mcp.types import JsonObject

if TYPE_CHECKING:
    from only1mcp.backends.health import HealthMonitor
    from only1mcp.config import HttpServerConfig, PoolServerConfig, StdioServerConfig
    from only1mcp.front.sessions import Session

log = logging.getLogger("only1mcp.backends")

# (backend, frame bytes) for anything that is not the answer to one of our requests.
MessageHandler = Callable[["Backend", bytes], Awaitable[None]]
# Receives the messages a server sends in the course of one request (HTTP: on its stream).
Sink = Callable[[bytes], Awaitable[None]]
# Given to a sink when the server closed the request's stream and will resume it later.
STREAM_BREAK = b""

CLIENT_INFO = {"name": "only1mcp", "version": "0.1.0"}
# What we tell backends we can do as their client: relay these requests to the client session
# that caused them (the relay refuses them for a session that did not declare them).
BACKEND_CLIENT_CAPABILITIES: JsonObject = {"sampling": {}, "elicitation": {"form": {}, "url": {}}}
# A backend that stayed up this long before failing starts its backoff from the beginning again.
STABLE_AFTER = 10.0
STDERR_TAIL_LINES = 50


class BackendState(enum.Enum):
    STARTING = "starting"
    READY = "ready"
    DOWN = "down"
    CLOSED = "closed"


class Backend(ABC):
    """One MCP server behind the aggregator."""

    # Bumped on every state change of any backend, so summaries can be cached between changes.
    generation = 0

    # Whether messages tied to one request arrive with it (HTTP streams) and so need a sink.
    streams_per_request = False

    def __init__(self, name: str, timeout: float, on_message: MessageHandler | None = None) -> None:
        self.name = name
        self.timeout = timeout
        self.on_message = on_message
        self.state = BackendState.STARTING
        self.last_error = ""
        self.init_result: JsonObject = {}
        self._ids = itertools.count(1)
        # Called after every (re)initialize so the catalog can refresh this server's lists.
        self.on_ready: Callable[[Backend], Awaitable[None]] | None = None
        self.restarts = 0
        self._closing = False
        self._failures = 0
        self._up_since = 0.0
        self._restart_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Future[None]] = set()
        # Transport failures and timeouts (not the server's own error answers) trip it.
        self.breaker = CircuitBreaker(failure_threshold=5, window=30.0, cooldown=5.0)
        # What we declare at initialize; a handshake server decides there what it may ask us.
        self.client_capabilities = BACKEND_CLIENT_CAPABILITIES
        self.restart_policy = RestartConfig()
        # Tool name → seconds, for the tools whose timeout is not the server's.
        self.tool_timeouts: dict[str, float] = {}
        # How long a call that reports progress may run in all (None: progress extends nothing).
        self.max_with_progress: float | None = None
        # request id → (its timeout scope, its timeout, the latest deadline progress may reach)
        self._extensible: dict[int, tuple[asyncio.Timeout, float, float]] = {}
        # Cleared by failed active health checks: an unhealthy backend gets no traffic.
        self._healthy = True
        self.monitor: HealthMonitor | None = None
        self.crash_looping = False
        # Told when restarts keep failing, so the server's tools can leave the catalog.
        self.on_crash_loop: Callable[[Backend], None] | None = None
        # Tools that may be replayed on another replica (annotated read-only or idempotent).
        self.safe_tools: frozenset[str] = frozenset()
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)

    def configure(self, config: StdioServerConfig | HttpServerConfig | PoolServerConfig) -> None:
        """Apply the server's resilience settings: timeouts, breaker, restart policy."""
        self.timeout = config.timeout
        self.tool_timeouts = dict(config.timeouts.tools)
        self.max_with_progress = config.timeouts.max_with_progress
        breaker = config.breaker
        self.breaker = CircuitBreaker(
            failure_threshold=breaker.failures, window=breaker.window, cooldown=breaker.cooldown
        )
        self.restart_policy = config.restart

    @property
    def capabilities(self) -> JsonObject:
        caps = self.init_result.get("capabilities")
        return caps if isinstance(caps, dict) else {}

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
    def pid(self) -> int | None:
        """The process serving this backend, when it is a local process."""
        return None

    @property
    def problem(self) -> str:
        """Why this backend is not serving ("" when it is)."""
        if self.crash_looping:
            why = f"crash loop ({self._failures} failed restarts in a row); last: {self.last_error}"
            return f"{why}; stderr: {self.stderr_tail[-1]}" if self.stderr_tail else why
        if self.state is not BackendState.READY:
            return self.last_error or self.state.value
        if not self._healthy:
            return "unhealthy: it did not answer its health checks"
        return ""

    def next_id(self) -> int:
        return next(self._ids)

    async def start(self) -> None:
        """Connect (spawn), run the initialize handshake and become READY, or raise BackendError.

        A failed start leaves the backend DOWN with a reconnect scheduled.
        """
        if self.monitor is not None:
            self.monitor.start()
        try:
            await self._bring_up()
        except BackendError:
            self.schedule_restart()
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
        self.crash_looping = False
        self._up_since = time.monotonic()
        self.breaker.reset()  # a fresh connection owes nothing to the old one's failures
        if self.on_ready:
            await self.on_ready(self)

    @abstractmethod
    async def connect(self) -> None:
        """Open the transport (spawn the process, open the HTTP client)."""

    @abstractmethod
    async def disconnect(self) -> None:
        """Tear the transport down; pending requests fail."""

    @abstractmethod
    async def send_request(
        self, frame: bytes, req_id: int, method: str, timeout: float, sink: Sink | None = None
    ) -> bytes:
        """Send a request frame whose id is ``req_id``; return the raw response frame.

        Messages the server ties to this request go to ``sink`` (where the transport can tell).

        Raises BackendError when the server is down, BackendTimeout after ``timeout`` seconds.
        """

    @abstractmethod
    def abandon(self, req_id: int) -> None:
        """Stop waiting for request ``req_id``: its send_request raises RequestCancelled."""

    @abstractmethod
    async def notify(self, frame: bytes) -> None:
        """Send a notification (or a response to a server→client request)."""

    async def close(self) -> None:
        """Stop for good: no restart, no orphan processes, pending requests fail."""
        self._closing = True
        self.state = BackendState.CLOSED
        self.last_error = "closed"
        if self._restart_task is not None:
            self._restart_task.cancel()
        if self.monitor is not None:
            self.monitor.stop()
        await self.disconnect()

    def deliver(self, frame: bytes) -> None:
        """Hand unsolicited traffic to ``on_message`` without blocking the reader."""
        if self.on_message is None:
            return
        task = asyncio.ensure_future(self.on_message(self, frame))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def mark_down(self, reason: str) -> None:
        if self.state is not BackendState.CLOSED:
            self.state = BackendState.DOWN
            self.last_error = reason

    def down_error(self) -> BackendError:
        return BackendError(f"server {self.name!r} is down: {self.last_error or 'not running'}")

    def unavailable(self) -> BackendUnavailable:
        """The error for a request refused before it was sent."""
        if self.state is not BackendState.READY:
            return BackendUnavailable(f"server {self.name!r} is down: {self.problem}")
        if not self._healthy:
            return BackendUnavailable(f"server {self.name!r} is {self.problem}")
        return BackendUnavailable(
            f"server {self.name!r} is unavailable: circuit open after repeated failures"
        )

    def schedule_restart(self) -> None:
        """Reconnect in the background with exponential backoff (one loop at a time)."""
        if self._closing or (self._restart_task and not self._restart_task.done()):
            return
        if self._up_since and time.monotonic() - self._up_since >= STABLE_AFTER:
            self._failures = 0
        self._check_crash_loop()
        self._restart_task = asyncio.ensure_future(self._restart_loop())

    async def _restart_loop(self) -> None:
        policy = self.restart_policy
        while not self._closing:
            await asyncio.sleep(min(policy.backoff_max, policy.backoff * 2**self._failures))
            self._failures += 1
            if self._closing:
                return
            try:
                await self._bring_up()
            except BackendError as exc:
                log.warning("server %r restart failed: %s", self.name, exc)
                self._check_crash_loop()
                continue
            self.restarts += 1
            log.info("server %r is back", self.name)
            return

    def _check_crash_loop(self) -> None:
        """After ``restart.crash_loop`` failed restarts in a row the server is taken out of
        the catalog (it keeps being restarted, at the longest backoff)."""
        if self.crash_looping or self._failures < self.restart_policy.crash_loop:
            return
        self.crash_looping = True
        Backend.generation += 1
        log.error("server %r: %s", self.name, self.problem)
        if self.on_crash_loop is not None:
            self.on_crash_loop(self)

    async def forward(
        self,
        frame: bytes,
        req_id: int,
        method: str,
        sink: Sink | None = None,
        session: Session | None = None,
        params: JsonObject | None = None,
    ) -> bytes:
        """Relay a client's request frame, guarded by this server's state, health and breaker.

        ``session`` and ``params`` (the request's, as forwarded) pick per-tool timeouts here and
        the replica in a pool.
        """
        if self.state is not BackendState.READY or not self._healthy or not self.breaker.allow():
            raise self.unavailable()
        timeout = self.timeout
        if self.tool_timeouts and method == "tools/call" and params is not None:
            timeout = self.tool_timeouts.get(params.get("name"), timeout)  # type: ignore[arg-type]
        try:
            if self.max_with_progress is not None and _reports_progress(params):
                answer = await self._send_extensible(frame, req_id, method, timeout, sink)
            else:
                answer = await self.send_request(frame, req_id, method, timeout, sink)
        except BackendError:
            self.breaker.record_failure()
            raise
        except BaseException:
            self.breaker.record_success()  # cancelled by the client: frees a probe slot
            raise
        self.breaker.record_success()
        return answer

    async def _send_extensible(
        self, frame: bytes, req_id: int, method: str, timeout: float, sink: Sink | None
    ) -> bytes:
        """send_request whose timeout each progress notification restarts, within the cap."""
        cap = self.max_with_progress or timeout
        latest = asyncio.get_running_loop().time() + cap
        try:
            async with asyncio.timeout(timeout) as scope:
                self._extensible[req_id] = (scope, timeout, latest)
                return await self.send_request(frame, req_id, method, cap, sink)
        except TimeoutError as exc:
            raise BackendTimeout(
                f"server {self.name!r} did not answer {method} within {timeout:g}s "
                "of its last progress notification"
            ) from exc
        finally:
            self._extensible.pop(req_id, None)

    def progressed(self, req_id: int) -> None:
        """Request ``req_id`` reported progress: its timeout starts again (up to the cap)."""
        entry = self._extensible.get(req_id)
        if entry is not None:
            scope, timeout, latest = entry
            scope.reschedule(min(asyncio.get_running_loop().time() + timeout, latest))

    async def request(
        self, method: str, params: JsonObject | None = None, timeout: float | None = None
    ) -> bytes:
        """Send ``method`` and return the raw response frame (id = the backend-local id)."""
        req_id = self.next_id()
        frame = jsonrpc.request(req_id, method, params)
        return await self.send_request(frame, req_id, method, timeout or self.timeout)

    async def call(self, method: str, params: JsonObject | None = None) -> Any:
        """Like :meth:`request`, decoded: the result, or the backend's error raised."""
        return jsonrpc.decode_response(await self.request(method, params))

    async def handshake(self) -> None:
        """The initialize exchange, run right after connecting."""
        params = {
            "protocolVersion": LATEST_HANDSHAKE,
            "capabilities": self.client_capabilities,
            "clientInfo": CLIENT_INFO,
        }
        result = await self.call("initialize", params)
        if not isinstance(result, dict):
            raise BackendError(f"server {self.name!r} answered initialize without a result")
        self.init_result = result
        await self.notify(jsonrpc.notification("notifications/initialized"))

    def timeout_error(self, method: str, timeout: float) -> BackendTimeout:
        return BackendTimeout(f"server {self.name!r} did not answer {method} within {timeout:g}s")


class Expired(Exception):
    """Set on a pending response whose timeout ran out (a bare timer is cheaper than
    asyncio.wait_for on a path taken once per relayed request)."""


def _reports_progress(params: JsonObject | None) -> bool:
    meta = params.get("_meta") if params is not None else None
    return isinstance(meta, dict) and meta.get("progressToken") is not None


def cancelled_by_client() -> RequestCancelled:
    return RequestCancelled("Request cancelled by the client")


def expire(future: asyncio.Future[bytes]) -> None:
    if not future.done():
        future.set_exception(Expired())
