"""The contract every backend transport implements; the router never branches on the kind.

A backend owns one connection to one MCP server: it performs the initialize handshake itself,
multiplexes requests from every client session over that connection with backend-local ids,
and hands unsolicited traffic (notifications, server→client requests) to ``on_message``.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any

from only1mcp._core import CircuitBreaker
from only1mcp.errors import BackendError, BackendTimeout, RequestCancelled
from only1mcp.protocol import jsonrpc
from only1mcp.protocol.revisions import LATEST_HANDSHAKE
from only1mcp.types import JsonObject

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
BACKOFF_FIRST = 0.2
BACKOFF_MAX = 15.0
# A backend that stayed up this long before failing starts its backoff from the beginning again.
STABLE_AFTER = 10.0


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

    def next_id(self) -> int:
        return next(self._ids)

    async def start(self) -> None:
        """Connect (spawn), run the initialize handshake and become READY, or raise BackendError.

        A failed start leaves the backend DOWN with a reconnect scheduled.
        """
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

    def schedule_restart(self) -> None:
        """Reconnect in the background with exponential backoff (one loop at a time)."""
        if self._closing or (self._restart_task and not self._restart_task.done()):
            return
        if self._up_since and time.monotonic() - self._up_since >= STABLE_AFTER:
            self._failures = 0
        self._restart_task = asyncio.ensure_future(self._restart_loop())

    async def _restart_loop(self) -> None:
        while not self._closing:
            await asyncio.sleep(min(BACKOFF_MAX, BACKOFF_FIRST * 2**self._failures))
            self._failures += 1
            if self._closing:
                return
            try:
                await self._bring_up()
            except BackendError as exc:
                log.warning("server %r restart failed: %s", self.name, exc)
                continue
            self.restarts += 1
            log.info("server %r is back", self.name)
            return

    async def forward(
        self, frame: bytes, req_id: int, method: str, sink: Sink | None = None
    ) -> bytes:
        """Relay a client's request frame, guarded by this server's state and breaker."""
        if self.state is not BackendState.READY:
            raise self.down_error()
        if not self.breaker.allow():
            raise BackendError(
                f"server {self.name!r} is unavailable: circuit open after repeated failures"
            )
        try:
            answer = await self.send_request(frame, req_id, method, self.timeout, sink)
        except BackendError:
            self.breaker.record_failure()
            raise
        except BaseException:
            self.breaker.record_success()  # cancelled by the client: frees a probe slot
            raise
        self.breaker.record_success()
        return answer

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


def cancelled_by_client() -> RequestCancelled:
    return RequestCancelled("Request cancelled by the client")


def expire(future: asyncio.Future[bytes]) -> None:
    if not future.done():
        future.set_exception(Expired())
