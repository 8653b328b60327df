"""Era probing: which protocol era a server speaks, settled right after each connection.

Unless the config says ``protocol: handshake``, a ``server/discover`` request asks for the
2026-07-28 revision (retried once at the version the server names when it offers another); a
2026 answer makes the backend ``stateless`` (no initialize; every request carries the envelope).
Anything else falls back to the initialize handshake, unless the config says ``protocol:
stateless``. :class:`PipelinedProbe` (stdio) writes the probe and initialize together, so a server
that ignores a request before initialize costs no wait.
"""

from __future__ import annotations

import asyncio
import logging
import typing

import orjson

from only1mcp.backends.base import CLIENT_INFO, IdSource, Outbound, Requester
from only1mcp.config import Protocol
from only1mcp.errors import UNSUPPORTED_VERSION, BackendError, RpcError
from only1mcp.protocol import discover, jsonrpc
from only1mcp.protocol.revisions import LATEST_HANDSHAKE
from only1mcp.protocol.stateless import LATEST_STATELESS, request_headers
from only1mcp.types import JsonObject

log = logging.getLogger("only1mcp.backends")

# How long an HTTP server may take to answer the discover probe before we try initialize.
PROBE_TIMEOUT = 3.0
# The least time a server gets to answer its first request after it is started: a process that
# is still importing its code on a busy machine is slow, not dead (its `timeout` applies after).
STARTUP_TIMEOUT = 20.0
# How long the initialize answer of a pipelined probe is waited for after a 2026 discover answer.
PIPELINE_GRACE = 0.25


class Probed(Requester, typing.Protocol):
    """What the probe reads and settles on the backend it probes."""

    name: str
    timeout: float
    client_capabilities: JsonObject
    init_result: JsonObject
    stateless: bool
    version: str
    handshake_too: bool
    next_id: IdSource

    async def send_request(self, call: Outbound, timeout: float) -> bytes: ...

    async def notify(self, frame: bytes) -> None: ...


class EraProbe:
    """Settles the era of ``backend`` under its config's ``protocol``."""

    def __init__(self, backend: Probed, protocol: Protocol) -> None:
        self.backend = backend
        self.protocol = protocol

    @property
    def startup_timeout(self) -> float:
        return max(self.backend.timeout, STARTUP_TIMEOUT)

    async def settle(self) -> None:
        """The discover probe (unless ``protocol: handshake``), else the initialize exchange."""
        backend = self.backend
        backend.stateless = False
        backend.handshake_too = False
        backend.version = LATEST_HANDSHAKE
        backend.init_result = {}
        if self.protocol is not Protocol.HANDSHAKE:
            version, retried = LATEST_STATELESS, False
            answer = await self.probe(version)
            found = discover.verdict(answer)
            if found.era is discover.Era.RETRY:
                version, retried = found.version, True
                answer = await self.probe(version, retried)
                found = discover.verdict(answer, retried)
            if found.era is discover.Era.STATELESS:
                assert isinstance(answer, dict)
                backend.init_result = discover.adopt(answer["result"], found.version)
                backend.version, backend.stateless = found.version, True
                backend.handshake_too = self.protocol is Protocol.AUTO and self.takes_handshake()
                return
            if self.protocol is Protocol.STATELESS:
                raise BackendError(
                    f"server {backend.name!r} does not speak MCP {LATEST_STATELESS} "
                    f"(its config says protocol: {Protocol.STATELESS}): {_said(answer)}"
                )
        if not backend.init_result:  # a pipelined probe may have run the handshake already
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
        backend = self.backend
        req_id = backend.next_id()
        params = discover.probe_params(version, backend.client_capabilities, CLIENT_INFO)
        headers = request_headers(version, discover.DISCOVER, params)
        frame = jsonrpc.request(req_id, discover.DISCOVER, params)
        timeout = backend.timeout if self.protocol is Protocol.STATELESS else PROBE_TIMEOUT
        call = Outbound(frame, req_id, discover.DISCOVER, headers=headers)
        try:
            answer = await backend.send_request(call, min(timeout, backend.timeout))
        except BackendError as exc:
            log.info("server %r: no answer to server/discover (%s)", backend.name, exc.message)
            return None
        return jsonrpc.parse_or_none(answer)

    def initialize_params(self) -> JsonObject:
        return {
            "protocolVersion": LATEST_HANDSHAKE,
            "capabilities": self.backend.client_capabilities,
            "clientInfo": CLIENT_INFO,
        }

    async def initialize(self) -> None:
        """The initialize exchange (handshake era)."""
        await self.initialized(await self.initialize_call())

    async def initialize_call(self) -> object:
        params = self.initialize_params()
        answer = await self.backend.request("initialize", params, self.startup_timeout, None)
        return jsonrpc.decode_response(answer)

    async def initialized(self, result: object) -> None:
        """Adopt an initialize result, and say so to the server."""
        backend = self.backend
        if not isinstance(result, dict):
            raise BackendError(f"server {backend.name!r} answered initialize without a result")
        backend.init_result = result
        version = result.get("protocolVersion")
        backend.version = version if isinstance(version, str) else LATEST_HANDSHAKE
        await backend.notify(jsonrpc.notification("notifications/initialized"))


class PipelinedProbe(EraProbe):
    """The discover probe and initialize written together (``protocol: auto`` on a pipe)."""

    def __init__(self, backend: Probed, protocol: Protocol) -> None:
        super().__init__(backend, protocol)
        # The error code of the pipelined initialize a 2026 server refused (None: no answer).
        self._refused_init: int | None = None

    async def probe(self, version: str, retried: bool = False) -> object:
        """A server that answers both costs one round trip. The probe's answer decides, unless
        initialize succeeds first (then the handshake is done: the probe's answer would only
        come after it)."""
        if self.protocol is not Protocol.AUTO or retried:
            return await super().probe(version, retried)
        self._refused_init = None
        backend = self.backend
        probe_id = backend.next_id()
        params = discover.probe_params(version, backend.client_capabilities, CLIENT_INFO)
        frame = jsonrpc.request(probe_id, discover.DISCOVER, params)
        call = Outbound(frame, probe_id, discover.DISCOVER)
        probing = asyncio.ensure_future(backend.send_request(call, self.startup_timeout))
        initializing = asyncio.ensure_future(self.initialize_call())
        try:
            await asyncio.wait({probing, initializing}, return_when=asyncio.FIRST_COMPLETED)
            if not probing.done() and initializing.exception() is None:
                await self.initialized(initializing.result())
                return None
            await asyncio.wait({probing})
            answer = _answer(probing)
            if discover.verdict(answer).era is discover.Era.STATELESS:
                # The initialize answer follows at once; a server that drops it waits no longer.
                await asyncio.wait({initializing}, timeout=PIPELINE_GRACE)
                self._refused_init = _refusal(initializing)
                return answer
            await asyncio.wait({initializing})
            if initializing.exception() is None:
                await self.initialized(initializing.result())
            return answer
        finally:
            for task in (probing, initializing):
                task.cancel()

    def takes_handshake(self) -> bool:
        """A two-era stdio loop settles on the first message, so after our probe it refused
        the pipelined initialize with -32022 ("this connection serves 2026"): a fresh process
        that is sent initialize first speaks the handshake. A 2026-only server answers
        otherwise (-32601) or not at all."""
        return self._refused_init == UNSUPPORTED_VERSION


def _said(answer: object) -> str:
    """What a probe's answer was, for an error message."""
    if answer is None:
        return "no answer to server/discover"
    return orjson.dumps(answer).decode()[:300]


def _answer(probe: asyncio.Future[bytes]) -> object:
    """The decoded answer of a finished probe; None when it failed (timeout, exit)."""
    if probe.exception() is not None:
        return None
    return jsonrpc.parse_or_none(probe.result())


def _refusal(initializing: asyncio.Future[object]) -> int | None:
    """The JSON-RPC error code a finished initialize was refused with (None: no refusal)."""
    if not initializing.done() or initializing.cancelled():
        return None
    error = initializing.exception()
    return error.code if isinstance(error, RpcError) else None
