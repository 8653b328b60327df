"""The backend contract: what the router, the relay and the gateway may ask of one MCP server,
whatever stands behind it (a process, a URL, a pool of replicas, a fake in a unit test).

httpx-like and small: :meth:`Backend.forward` takes one :class:`Outbound` request (its frame,
with an id from :attr:`Backend.next_id`) and returns its response frame, handing the frames the
server ties to that request to its ``sink``; :meth:`Backend.notify` sends a notification (or an
answer to a server→client request); :meth:`Backend.abandon` and :meth:`Backend.progressed`
steer a call in flight; :meth:`Backend.start` and :meth:`Backend.close` bound its life;
``state`` and ``problem`` say whether it serves. Everything unsolicited goes to the
:class:`Wiring` it was built with. Callers branch on the era the backend found
(``stateless``) — it decides how a request is framed — never on its transport.

Implementations: :class:`~.server.ServerBackend` (one server over stdio, HTTP or legacy SSE,
with its supervision, call guard and era probe as collaborators) and
:class:`~.pool.ReplicaPool` (a wrapper that holds replicas and speaks this same contract).
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import logging
import typing
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from only1mcp import __version__
from only1mcp.errors import RequestCancelled
from only1mcp.protocol import jsonrpc
from only1mcp.protocol.revisions import LATEST_HANDSHAKE
from only1mcp.protocol.stateless import request_headers, with_envelope
from only1mcp.types import JsonObject

if TYPE_CHECKING:
    from only1mcp.session import Session
    from only1mcp.telemetry.metrics import Metrics

log = logging.getLogger("only1mcp.backends")

# (backend, frame bytes) for anything that is not the answer to one of our requests.
MessageHandler = Callable[["Backend", bytes], Awaitable[None]]
# Receives the messages a server sends in the course of one request (HTTP: on its stream).
Sink = Callable[[bytes], Awaitable[None]]
# Given to a sink when the server closed the request's stream and will resume it later.
STREAM_BREAK = b""
# The 2026 headers of one request (HTTP only: a pipe has no headers).
Headers = Mapping[str, str] | None
# Where a backend's request ids come from: a pool hands its own to its replicas, so that a
# local id is unique across the pool.
IdSource = Callable[[], int]

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


class BackendState(enum.Enum):
    STARTING = "starting"
    READY = "ready"
    DOWN = "down"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Wiring:
    """What a backend is given at construction besides its config: where it reports what
    nobody asked it for, where its request ids come from, what it declares to the server.
    Nothing is patched in later."""

    # Notifications and server→client requests.
    on_message: MessageHandler | None = None
    # After every (re)initialize, so the catalog can refresh this server's lists.
    on_ready: Callable[[Backend], Awaitable[None]] | None = None
    # When restarts keep failing, so the server's items can leave the catalog.
    on_crash_loop: Callable[[Backend], None] | None = None
    # None: a counter of its own (a pool gives its replicas its own source).
    ids: IdSource | None = None
    # What we declare at initialize (None: BACKEND_CLIENT_CAPABILITIES); a handshake server
    # decides there what it may ask us.
    client_capabilities: JsonObject | None = None
    # Where calls, breaker changes and replays are counted (None: metrics are off).
    metrics: Metrics | None = None


UNWIRED = Wiring()


@dataclass(slots=True)
class Outbound:
    """One request on its way to a server: what :meth:`Backend.forward` and a transport's
    ``send_request`` take."""

    frame: bytes  # the JSON-RPC request, its id already the backend-local one
    id: int
    method: str
    # Gets the messages the server ties to this request (where the transport can tell).
    sink: Sink | None = None
    # The request's params as forwarded: they pick per-tool timeouts and a pool's replica.
    params: JsonObject | None = None
    # A 2026 request's headers (HTTP sends them; its error answers then come back as frames).
    headers: Headers = None
    # The client session it is for (a pool may hash on it).
    session: Session | None = None


# A backend's own request: (method, params, timeout, sink) → the raw response frame.
Request = Callable[[str, JsonObject | None, float | None, Sink | None], Awaitable[bytes]]


class Requester(typing.Protocol):
    """Anything that sends requests of its own: what a collaborator needs of its backend."""

    @property
    def request(self) -> Request: ...


class Backend(ABC):
    """One MCP server behind the aggregator (see the module docstring for the contract)."""

    # Bumped on every state change of any backend, so summaries can be cached between changes.
    generation = 0
    # Whether messages tied to one request arrive with it (HTTP streams) and so need a sink.
    streams_per_request = False
    # Tools that may be replayed on another replica (a pool learns them in tools_listed).
    safe_tools: frozenset[str] = frozenset()
    # Seconds a request may take (the server's ``timeout``).
    timeout: float

    def __init__(self, name: str, wiring: Wiring | None = None) -> None:
        self.name = name
        self.wiring = wiring = wiring or UNWIRED
        # An attribute, not a method: it is called once per relayed request.
        self.next_id: IdSource = wiring.ids or itertools.count(1).__next__
        self.client_capabilities = wiring.client_capabilities or BACKEND_CLIENT_CAPABILITIES
        self.init_result: JsonObject = {}
        # The era found: ``stateless`` is read on every forwarded call, hence a plain attribute.
        self.stateless = False
        self.version = LATEST_HANDSHAKE
        # A 2026 server found under ``protocol: auto`` that may take the initialize handshake
        # as well (the SDK's servers speak both): handshake-era clients then get a handshake
        # "face" of it (Gateway.backend_for), with its back-channel for sampling/elicitation.
        self.handshake_too = False
        self._tasks: set[asyncio.Future[None]] = set()

    @staticmethod
    def changed() -> None:
        """Some backend's state changed: what is cached per generation is stale."""
        Backend.generation += 1

    @property
    def capabilities(self) -> JsonObject:
        caps = self.init_result.get("capabilities")
        return caps if isinstance(caps, dict) else {}

    @property
    @abstractmethod
    def state(self) -> BackendState: ...

    @property
    @abstractmethod
    def problem(self) -> str:
        """Why this backend is not serving ("" when it is)."""

    @property
    def restarts(self) -> int:
        """How often it came back by itself after its connection was lost."""
        return 0

    @property
    def busy(self) -> int:
        """Requests sent and not answered yet (a reload drains a retired backend on it)."""
        return 0

    @abstractmethod
    async def start(self) -> None:
        """Connect and settle the era; raise BackendError when the server cannot serve (it
        keeps being retried in the background)."""

    @abstractmethod
    async def close(self) -> None:
        """Stop for good: no restart, no orphan processes, pending requests fail."""

    @abstractmethod
    async def forward(self, call: Outbound) -> bytes:
        """Relay a client's request and return the raw response frame. Raises
        BackendUnavailable when it was never sent, another BackendError when the server failed
        or timed out, RequestCancelled after :meth:`abandon`."""

    @abstractmethod
    async def send_own(self, call: Outbound, timeout: float | None) -> bytes:
        """Send a request of our own (see :meth:`request`)."""

    async def request(
        self,
        method: str,
        params: JsonObject | None = None,
        timeout: float | None = None,
        sink: Sink | None = None,
    ) -> bytes:
        """Send our own ``method`` (framed for this server's era) and return the raw response
        frame (its id is the backend-local one)."""
        return await self.send_own(self.outbound(method, params, sink), timeout)

    @abstractmethod
    async def notify(self, frame: bytes) -> None:
        """Send a notification (or a response to a server→client request)."""

    @abstractmethod
    def abandon(self, req_id: int) -> None:
        """Stop waiting for request ``req_id``: its forward raises RequestCancelled."""

    def progressed(self, req_id: int) -> None:  # noqa: B027 (a default: nothing to do)
        """Request ``req_id`` reported progress (its timeout may start again)."""

    async def subscribe(self, uri: str) -> None:  # noqa: B027 (a default: nothing to do)
        """A client subscribed to ``uri`` of a 2026 server (it widens the listen stream)."""

    def unsubscribe(self, uri: str) -> None:  # noqa: B027 (a default: nothing to do)
        """The last client subscription to ``uri`` of a 2026 server is gone."""

    def tools_listed(self, tools: list[JsonObject]) -> None:  # noqa: B027 (a default: nothing to do)
        """The server's tools as just listed (a pool learns which it may replay)."""

    async def call(self, method: str, params: JsonObject | None = None) -> Any:
        """Like :meth:`request`, decoded: the result, or the backend's error raised."""
        return jsonrpc.decode_response(await self.request(method, params))

    def outbound(
        self, method: str, params: JsonObject | None, sink: Sink | None = None
    ) -> Outbound:
        """Our own request for ``method``, framed for this server's era."""
        req_id = self.next_id()
        headers = None
        if self.stateless:
            params = with_envelope(params, self.version, self.client_capabilities, CLIENT_INFO)
            headers = request_headers(self.version, method, params)
        return Outbound(
            jsonrpc.request(req_id, method, params), req_id, method, sink, None, headers
        )

    def spawn(self, work: Awaitable[None]) -> None:
        """Run ``work`` in the background, kept referenced until it is done."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def cancelled_by_client() -> RequestCancelled:
    return RequestCancelled("Request cancelled by the client")
