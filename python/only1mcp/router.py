"""Dispatch of one client message: method → catalog entry → backend, and the answer back.

Requests to a backend get a backend-local id; the backend's response frame comes back as bytes
and only its id is swapped for the client's (in Rust) — results are never decoded here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from only1mcp import __version__
from only1mcp._core import rewrite_id
from only1mcp.backends import Backend
from only1mcp.errors import InvalidParams, MethodNotFound, RpcError
from only1mcp.front.sessions import Session
from only1mcp.gateway import Gateway
from only1mcp.protocol import jsonrpc
from only1mcp.protocol.revisions import negotiate
from only1mcp.types import JsonObject, RequestId

SERVER_INFO = {"name": "only1mcp", "version": __version__}
Handler = Callable[[Session, JsonObject], Awaitable[bytes]]

ROUTED_CALLS = {"tools/call": "tools", "prompts/get": "prompts"}
MERGED_LISTS = {"tools/list": "tools", "prompts/list": "prompts"}


class Router:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        # (session id, client request id) → (backend, backend-local id), for cancellation.
        self._inflight: dict[tuple[str, RequestId], tuple[Backend, int]] = {}
        self._handlers: dict[str, Handler] = {
            "initialize": self._initialize,
            "ping": self._ping,
        }
        for method in ROUTED_CALLS:
            self._handlers[method] = self._routed
        for method in MERGED_LISTS:
            self._handlers[method] = self._merged_list

    async def handle(self, session: Session, msg: JsonObject) -> bytes | None:
        """Answer one validated message; None for notifications and responses."""
        if not self.gateway.ready.is_set():
            await self.gateway.ready.wait()  # the catalog is empty until every server started
        method = msg.get("method")
        if method is None:
            return None  # a response to a server→client request; nothing is pending yet
        if "id" not in msg:
            await self._notification(session, msg)
            return None
        req_id = msg["id"]
        handler = self._handlers.get(method)
        try:
            if handler is None:
                raise MethodNotFound(f"Method not found: {method}")
            return await handler(session, msg)
        except RpcError as exc:
            return jsonrpc.error(req_id, exc)

    async def _initialize(self, session: Session, msg: JsonObject) -> bytes:
        params = msg.get("params") or {}
        session.protocol_version = negotiate(params.get("protocolVersion"))
        caps = params.get("capabilities")
        session.client_capabilities = caps if isinstance(caps, dict) else {}
        info = params.get("clientInfo")
        session.client_info = info if isinstance(info, dict) else {}
        result = {
            "protocolVersion": session.protocol_version,
            "capabilities": self._capabilities(),
            "serverInfo": SERVER_INFO,
        }
        return jsonrpc.result(msg["id"], result)

    def _capabilities(self) -> JsonObject:
        """The union of what the backends offer, limited to what we relay."""
        caps: JsonObject = {"tools": {"listChanged": True}}
        for backend in self.gateway.backends.values():
            if "prompts" in backend.capabilities:
                caps["prompts"] = {"listChanged": True}
        return caps

    async def _ping(self, session: Session, msg: JsonObject) -> bytes:
        return jsonrpc.result(msg["id"], {})

    async def _merged_list(self, session: Session, msg: JsonObject) -> bytes:
        kind = MERGED_LISTS[msg["method"]]
        params = msg.get("params") or {}
        if params.get("cursor") is not None:
            # Merged lists are served whole, so no cursor of ours can exist.
            raise InvalidParams(f"Invalid cursor: {params['cursor']!r}")
        result: JsonObject = {kind: self.gateway.catalogs[kind].merged()}
        failures = self.gateway.failures()
        if failures:
            result["_meta"] = {"only1mcp/errors": failures}
        return jsonrpc.result(msg["id"], result)

    async def _routed(self, session: Session, msg: JsonObject) -> bytes:
        method: str = msg["method"]
        params: JsonObject = msg.get("params") or {}
        name = params.get("name")
        kind = ROUTED_CALLS[method]
        if not isinstance(name, str):
            raise InvalidParams(f"{method}: params.name must be a string")
        entry = self.gateway.catalogs[kind].lookup(name)
        if entry is None:
            raise InvalidParams(f"Unknown {kind[:-1]}: {name}")
        backend = self.gateway.backends[entry.server]
        forwarded = {**params, "name": entry.name}
        frame = await self._forward(session, msg["id"], backend, method, forwarded)
        return rewrite_id(frame, msg["id"])

    async def _forward(
        self,
        session: Session,
        client_id: RequestId,
        backend: Backend,
        method: str,
        params: JsonObject,
    ) -> bytes:
        local_id = backend.next_id()
        frame = orjson.dumps({"jsonrpc": "2.0", "id": local_id, "method": method, "params": params})
        key = (session.id, client_id)
        self._inflight[key] = (backend, local_id)
        try:
            return await backend.forward(frame, local_id, method)
        except asyncio.CancelledError:
            await self._cancel_backend(backend, local_id, "client went away")
            raise
        finally:
            self._inflight.pop(key, None)

    async def _notification(self, session: Session, msg: JsonObject) -> None:
        if msg["method"] == "notifications/initialized":
            session.initialized = True
        elif msg["method"] == "notifications/cancelled":
            params: Any = msg.get("params") or {}
            target = self._inflight.get((session.id, params.get("requestId")))
            if target is not None:
                await self._cancel_backend(*target, params.get("reason"))

    @staticmethod
    async def _cancel_backend(backend: Backend, local_id: int, reason: object) -> None:
        params: JsonObject = {"requestId": local_id}
        if isinstance(reason, str):
            params["reason"] = reason
        # A backend that is gone has nothing left to cancel.
        with contextlib.suppress(RpcError):
            await backend.notify(jsonrpc.notification("notifications/cancelled", params))
