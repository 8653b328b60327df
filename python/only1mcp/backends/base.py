"""The contract every backend transport implements: the router never branches on the transport
(stdio, HTTP, legacy SSE, a pool), only on the era the backend found (``modern``).

A backend owns one connection to one MCP server: it settles the server's protocol era itself
(``server/discover`` probe, else the initialize handshake), multiplexes requests from every
client session over that connection with backend-local ids, and hands unsolicited traffic
(notifications, server→client requests) to ``on_message``. A 2026-07-28 (stateless) server gets
no initialize; every request we send it carries the 2026 envelope, and its list changes and
resource updates come through a standing ``subscriptions/listen`` stream (:mod:`.listen`).
"""

from __future__ import annotations

import asyncio
import collections
import enum
import itertools
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import orjson

from only1mcp import __version__
from only1mcp.backends.breaker import Breaker, Clock, make_breaker
from only1mcp.backends.listen import Watch
from only1mcp.config import Protocol
from only1mcp.config.policies import RestartConfig
from only1mcp.errors import BackendError, BackendTimeout, BackendUnavailable, RequestCancelled
from only1mcp.protocol import discover, jsonrpc
from only1mcp.protocol.modern import LATEST_MODERN, request_headers, with_envelope
from only1mcp.protocol.revisions import LATEST_HANDSHAKE
from only1mcp.types import JsonObject

if TYPE_CHECKING:
    from only1mcp.backends.health import HealthMonitor
    from only1mcp.config import HttpServerConfig, PoolServerConfig, StdioServerConfig
    from only1mcp.session import Session

log = logging.getLogger("only1mcp.backends")

# (backend, frame bytes) for anything that is not the answer to one of our requests.
MessageHandler = Callable[["Backend", bytes], Awaitable[None]]
# Receives the messages a server sends in the course of one request (HTTP: on its stream).
Sink = Callable[[bytes], Awaitable[None]]
# Given to a sink when the server closed the request's stream and will resume it later.
STREAM_BREAK = b""
# The 2026 headers of one request (HTTP only: a pipe has no headers).
Headers = Mapping[str, str] | None

CLIENT_INFO = {"name": "only1mcp", "version": __version__}
# What we tell backends we can do as their client: relay these requests to the client session
# that caused them (the relay refuses them for a session that did not declare them).
BACKEND_CLIENT_CAPABILITIES: JsonObject = {
    "sampling": {},
    "elicitation": {"form": {}, "url": {}},
    # roots/list goes to the client whose request caused it, else to the connected clients
    # that declared roots (relay), and their roots changes are passed on (list_changed).
    "roots": {"listChanged": True},
}
# A backend that stayed up this long before failing starts its backoff from the beginning again.
STABLE_AFTER = 10.0
STDERR_TAIL_LINES = 50
# How long an HTTP server may take to answer the discover probe before we try initialize.
PROBE_TIMEOUT = 3.0
# The least time a server gets to answer its first request after it is started: a process that
# is still importing its code on a busy machine is slow, not dead (its `timeout` applies after).
STARTUP_TIMEOUT = 20.0


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
        # Bumped by every (re)connection: failures of calls sent to an earlier one (a killed
        # process's calls, failed after it was already replaced) do not count against it.
        self._epoch = 0
        self._closing = False
        self._failures = 0
        self._up_since = 0.0
        self._restart_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Future[None]] = set()
        # Transport failures and timeouts (not the server's own error answers) trip it. Its
        # clock: a test may set another one before configure() (see backends/breaker.py).
        self.clock: Clock = time.monotonic
        self.breaker: Breaker = make_breaker(failure_threshold=5, window=30.0, cooldown=5.0)
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
        # The era to speak (the config's ``protocol``; transports that can probe set it), and
        # the one found: ``modern`` is read on every forwarded call, hence a plain attribute.
        self.protocol = Protocol.HANDSHAKE
        self.modern = False
        self.version = LATEST_HANDSHAKE
        # A 2026 server found under ``protocol: auto`` that may take the initialize handshake
        # as well (the SDK's servers speak both): handshake-era clients then get a handshake
        # "face" of it (Gateway.backend_for), with its back-channel for sampling/elicitation.
        self.handshake_too = False
        self.watch = Watch(self)

    def configure(self, config: StdioServerConfig | HttpServerConfig | PoolServerConfig) -> None:
        """Apply the server's resilience settings: timeouts, breaker, restart policy."""
        self.timeout = config.timeout
        self.tool_timeouts = dict(config.timeouts.tools)
        self.max_with_progress = config.timeouts.max_with_progress
        breaker = config.breaker
        self.breaker = make_breaker(
            breaker.failures, breaker.window, breaker.cooldown, clock=self.clock
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
        self._epoch += 1
        self.breaker.reset()  # a fresh connection owes nothing to the old one's failures
        if self.on_ready:
            await self.on_ready(self)
        if self.modern:
            self.watch.start()

    @abstractmethod
    async def connect(self) -> None:
        """Open the transport (spawn the process, open the HTTP client)."""

    @abstractmethod
    async def disconnect(self) -> None:
        """Tear the transport down; pending requests fail."""

    @abstractmethod
    async def send_request(
        self,
        frame: bytes,
        req_id: int,
        method: str,
        timeout: float,
        sink: Sink | None = None,
        headers: Headers = None,
    ) -> bytes:
        """Send a request frame whose id is ``req_id``; return the raw response frame.

        Messages the server ties to this request go to ``sink`` (where the transport can tell).
        ``headers`` are a 2026 request's (HTTP sends them; its error answers then come back as
        frames, whatever their HTTP status).

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
        self.watch.stop()
        await self.disconnect()

    def deliver(self, frame: bytes) -> None:
        """Hand unsolicited traffic to ``on_message`` without blocking the reader."""
        if self.on_message is None:
            return
        if self.modern:
            found = self.watch.incoming(frame)  # listen frames lose their subscription tag
            if found is None:
                return
            frame = found
        task = asyncio.ensure_future(self.on_message(self, frame))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def mark_down(self, reason: str) -> None:
        if self.state is not BackendState.CLOSED:
            self.state = BackendState.DOWN
            self.last_error = reason
        self.watch.stop()

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
        headers: Headers = None,
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
        epoch = self._epoch
        try:
            if self.max_with_progress is not None and _reports_progress(params):
                answer = await self._send_extensible(frame, req_id, method, timeout, sink, headers)
            else:
                answer = await self.send_request(frame, req_id, method, timeout, sink, headers)
        except BackendError:
            if epoch == self._epoch:
                self.breaker.record_failure()
            raise
        except BaseException:
            self.breaker.record_success()  # cancelled by the client: frees a probe slot
            raise
        self.breaker.record_success()
        return answer

    async def _send_extensible(
        self,
        frame: bytes,
        req_id: int,
        method: str,
        timeout: float,
        sink: Sink | None,
        headers: Headers = None,
    ) -> bytes:
        """send_request whose timeout each progress notification restarts, within the cap."""
        cap = self.max_with_progress or timeout
        latest = asyncio.get_running_loop().time() + cap
        try:
            async with asyncio.timeout(timeout) as scope:
                self._extensible[req_id] = (scope, timeout, latest)
                return await self.send_request(frame, req_id, method, cap, sink, headers)
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
        self,
        method: str,
        params: JsonObject | None = None,
        timeout: float | None = None,
        sink: Sink | None = None,
    ) -> bytes:
        """Send ``method`` (in this server's era) and return the raw response frame (id = the
        backend-local id)."""
        req_id = self.next_id()
        headers = None
        if self.modern:
            params = with_envelope(params, self.version, self.client_capabilities, CLIENT_INFO)
            headers = request_headers(self.version, method, params)
        frame = jsonrpc.request(req_id, method, params)
        return await self.send_request(
            frame, req_id, method, timeout or self.timeout, sink, headers
        )

    async def call(self, method: str, params: JsonObject | None = None) -> Any:
        """Like :meth:`request`, decoded: the result, or the backend's error raised."""
        return jsonrpc.decode_response(await self.request(method, params))

    async def handshake(self) -> None:
        """Settle the server's era right after connecting: the discover probe (unless the
        config says ``protocol: handshake``), else the initialize exchange."""
        self.modern = False
        self.handshake_too = False
        self.version = LATEST_HANDSHAKE
        self.init_result = {}
        if self.protocol is not Protocol.HANDSHAKE:
            version, retried = LATEST_MODERN, False
            answer = await self.probe(version)
            found = discover.verdict(answer)
            if found.era is discover.Era.RETRY:
                version, retried = found.version, True
                answer = await self.probe(version, retried)
                found = discover.verdict(answer, retried)
            if found.era is discover.Era.MODERN:
                assert isinstance(answer, dict)
                self.init_result = discover.adopt(answer["result"], found.version)
                self.version, self.modern = found.version, True
                self.handshake_too = self.protocol is Protocol.AUTO and self.takes_handshake()
                return
            if self.protocol is Protocol.MODERN:
                raise BackendError(
                    f"server {self.name!r} does not speak MCP {LATEST_MODERN} "
                    f"(its config says protocol: {Protocol.MODERN}): {_said(answer)}"
                )
        if not self.init_result:  # a pipelined probe may have run the handshake already
            await self.initialize()

    def takes_handshake(self) -> bool:
        """Whether this 2026 server may also take ``initialize`` (asked after a successful
        probe). Unknown here, so yes: the gateway's first try at a handshake face of it
        decides, and falls back to this backend when that fails."""
        return True

    async def probe(self, version: str, retried: bool = False) -> object:
        """Ask ``server/discover`` at ``version``; the decoded answer, or None when none came
        (an HTTP server gets :data:`PROBE_TIMEOUT` to answer, unless 2026 is all it may
        speak)."""
        req_id = self.next_id()
        params = discover.probe_params(version, self.client_capabilities, CLIENT_INFO)
        headers = request_headers(version, discover.DISCOVER, params)
        frame = jsonrpc.request(req_id, discover.DISCOVER, params)
        timeout = self.timeout if self.protocol is Protocol.MODERN else PROBE_TIMEOUT
        try:
            answer = await self.send_request(
                frame, req_id, discover.DISCOVER, min(timeout, self.timeout), None, headers
            )
        except BackendError as exc:
            log.info("server %r: no answer to server/discover (%s)", self.name, exc.message)
            return None
        return jsonrpc.parse_or_none(answer)

    def initialize_params(self) -> JsonObject:
        return {
            "protocolVersion": LATEST_HANDSHAKE,
            "capabilities": self.client_capabilities,
            "clientInfo": CLIENT_INFO,
        }

    @property
    def startup_timeout(self) -> float:
        return max(self.timeout, STARTUP_TIMEOUT)

    async def initialize(self) -> None:
        """The initialize exchange (handshake era)."""
        answer = await self.request("initialize", self.initialize_params(), self.startup_timeout)
        self.adopt_initialize(jsonrpc.decode_response(answer))
        await self.notify(jsonrpc.notification("notifications/initialized"))

    def adopt_initialize(self, result: object) -> None:
        if not isinstance(result, dict):
            raise BackendError(f"server {self.name!r} answered initialize without a result")
        self.init_result = result
        version = result.get("protocolVersion")
        self.version = version if isinstance(version, str) else LATEST_HANDSHAKE

    async def listen(self, notifications: JsonObject) -> None:
        """One ``subscriptions/listen`` stream (2026): returns when the server ends it, raises
        the server's error when it refuses it."""
        answer = await self.request(
            "subscriptions/listen",
            {"notifications": notifications},
            timeout=LISTEN_TIMEOUT,
            sink=self._listened,
        )
        jsonrpc.decode_response(answer)

    async def _listened(self, frame: bytes) -> None:
        self.deliver(frame)

    def timeout_error(self, method: str, timeout: float) -> BackendTimeout:
        return BackendTimeout(f"server {self.name!r} did not answer {method} within {timeout:g}s")


# A listen stream is reopened at least this often, even if the server keeps it open.
LISTEN_TIMEOUT = 3600.0


def _said(answer: object) -> str:
    """What a probe's answer was, for an error message."""
    if answer is None:
        return "no answer to server/discover"
    return orjson.dumps(answer).decode()[:300]


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
