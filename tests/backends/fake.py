"""A fake transport: an MCP server inside the test process, behind the real backend contract.

:class:`FakeServer` is a :class:`~only1mcp.backends.server.ServerBackend` whose transport is a
table of handlers in this process, so the collaborators (supervisor, call guard, era probe,
health monitor) and the layers above (pool, router, relay) run for real without a process or a
socket. Handlers get the request's params and its sink and return a result (or raise RpcError
for an error answer, BackendError for a transport failure).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from only1mcp.backends.base import Backend, Outbound, Sink, Wiring, cancelled_by_client
from only1mcp.backends.server import ServerBackend
from only1mcp.config import HttpServerConfig, Protocol
from only1mcp.errors import BackendError, RpcError
from only1mcp.protocol import jsonrpc
from only1mcp.types import JsonObject

Handler = Callable[[JsonObject, Sink | None], Awaitable[JsonObject]]
# Quick restarts, no pings: what most unit tests want.
QUIET: dict[str, Any] = {
    "health": {"interval": 0},
    "restart": {"backoff": 0.01, "backoff_max": 0.05, "crash_loop": 3},
}
ECHO_TOOL = {"name": "echo", "inputSchema": {"type": "object"}}


def fake_config(**options: Any) -> HttpServerConfig:
    """A config for a fake server (its URL is never dialled)."""
    settings = {**QUIET, "protocol": Protocol.HANDSHAKE, **options}
    return HttpServerConfig(url="http://127.0.0.1:9/fake", **settings)


class FakeServer(ServerBackend):
    """A handshake-era server with an ``echo`` tool, unless handlers say otherwise."""

    def __init__(
        self,
        name: str = "fake",
        config: HttpServerConfig | None = None,
        wiring: Wiring | None = None,
    ) -> None:
        super().__init__(name, config or fake_config(), wiring)
        self.handlers: dict[str, Handler] = {
            "initialize": self._initialize,
            "tools/list": _tools,
            "tools/call": _echo,
            "ping": _empty,
        }
        self.connected = False
        self.refuse_connects = 0  # this many connects fail before one succeeds
        self.connects = 0
        self.sent: list[JsonObject] = []  # every request, as sent
        self.notified: list[JsonObject] = []  # every notification or answer we sent
        self._stops: dict[int, asyncio.Future[None]] = {}

    async def connect(self) -> None:
        self.connects += 1
        if self.refuse_connects > 0:
            self.refuse_connects -= 1
            raise self.down_error()
        self.connected = True

    async def disconnect(self) -> None:
        self.connected = False

    def drop(self, reason: str = "connection dropped") -> None:
        """The transport loses its connection, as a process exit or a broken stream does."""
        self.connected = False
        self.lost(reason)

    async def send_request(self, call: Outbound, timeout: float) -> bytes:
        req_id, method = call.id, call.method
        msg: JsonObject = orjson.loads(call.frame)
        self.sent.append(msg)
        if not self.connected:
            raise self.down_error()
        handler = self.handlers.get(method)
        if handler is None:
            return jsonrpc.error(req_id, RpcError(f"Method not found: {method}", code=-32601))
        work = asyncio.ensure_future(handler(msg.get("params") or {}, call.sink))
        stop = self._stops[req_id] = asyncio.get_running_loop().create_future()
        try:
            done, _ = await asyncio.wait(
                {work, stop}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            self._stops.pop(req_id, None)
            work.cancel()
        if work in done:
            failure = work.exception()
            if isinstance(failure, BackendError):
                raise failure  # a transport failure, not the server's answer
            if isinstance(failure, RpcError):
                return jsonrpc.error(req_id, failure)
            return jsonrpc.result(req_id, work.result())
        if stop in done:
            raise cancelled_by_client()
        raise self.timeout_error(method, timeout)

    def abandon(self, req_id: int) -> None:
        stop = self._stops.get(req_id)
        if stop is not None and not stop.done():
            stop.set_result(None)

    async def notify(self, frame: bytes) -> None:
        if not self.connected:
            raise self.down_error()
        self.notified.append(orjson.loads(frame))

    def push(self, msg: JsonObject) -> None:
        """The server sends something unsolicited (a notification, a request of its own)."""
        self.deliver(orjson.dumps(msg))

    async def _initialize(self, params: JsonObject, sink: Sink | None) -> JsonObject:
        return {
            "protocolVersion": params.get("protocolVersion"),
            "capabilities": {"tools": {"listChanged": True}},
            "serverInfo": {"name": self.name, "version": "1"},
        }


async def _tools(params: JsonObject, sink: Sink | None) -> JsonObject:
    return {"tools": [ECHO_TOOL]}


async def _echo(params: JsonObject, sink: Sink | None) -> JsonObject:
    text = str((params.get("arguments") or {}).get("text", ""))
    return {"content": [{"type": "text", "text": text}]}


async def _empty(params: JsonObject, sink: Sink | None) -> JsonObject:
    return {}


async def hang(params: JsonObject, sink: Sink | None) -> JsonObject:
    """A handler that never answers (until its timeout or an abandon)."""
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


def tool_call(backend: Backend, name: str, meta: JsonObject | None = None) -> Outbound:
    """A ``tools/call`` of ``name`` with the backend's next id (and ``_meta``, if given)."""
    req_id = backend.next_id()
    params: JsonObject = {"name": name, "arguments": {}}
    if meta is not None:
        params["_meta"] = {key: req_id if value is None else value for key, value in meta.items()}
    return Outbound(
        jsonrpc.request(req_id, "tools/call", params), req_id, "tools/call", None, params
    )
