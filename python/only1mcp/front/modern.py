"""The 2026-07-28 (stateless) side of ``/mcp``: one POST, one request, no session.

:class:`~only1mcp.front.http.McpEndpoint` hands a request here when its ``MCP-Protocol-Version``
header is not a handshake revision. Each request is validated on its own (the ladder in
:mod:`only1mcp.protocol.modern`), served by the same router and catalog as the handshake era,
and its result stamped as 2026 wants it. Calls that may need the client's input mid-way
(``tools/call``, ``prompts/get``, ``resources/read``) go through the :mod:`only1mcp.bridge`:
straight on to a 2026 server (:mod:`~only1mcp.bridge.direct`), parked for a handshake-era one
(:mod:`~only1mcp.bridge.calls`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import Any

import orjson

from only1mcp import __version__
from only1mcp.bridge.calls import Bridge
from only1mcp.bridge.direct import Direct
from only1mcp.errors import (
    INVALID_PARAMS,
    InvalidRequest,
    MethodNotFound,
    RpcError,
)
from only1mcp.front.listen import Listener
from only1mcp.front.sessions import Session
from only1mcp.front.wire import JSON_HEADERS, SSE_HEADERS, read_body, respond, sse_event
from only1mcp.gateway import Gateway
from only1mcp.protocol import jsonrpc
from only1mcp.protocol.modern import (
    HTTP_STATUS,
    LATEST_MODERN,
    META_SERVER_INFO,
    MODERN_REVISIONS,
    NAMED_BY,
    REMOVED,
    Envelope,
    Headers,
    check_param_headers,
    check_request,
    error_frame_id,
    stamp,
)
from only1mcp.router import Router
from only1mcp.types import JsonObject, Receive, Scope, Send

# Served by the router as they are (beyond the bridged ones and our own).
ROUTED = frozenset(
    {
        "tools/list",
        "prompts/list",
        "resources/list",
        "resources/templates/list",
        "completion/complete",
    }
)
RESOURCE_NOT_FOUND = -32002  # the handshake era's code; 2026 says -32602 with data.uri
_PROTOCOL_META = "io.modelcontextprotocol/"


class ModernEndpoint:
    def __init__(self, gateway: Gateway, router: Router) -> None:
        self.gateway = gateway
        self.router = router
        self.bridge = Bridge(router.handle, router.relay.from_client)
        self.direct = Direct(router, self.bridge.sealer)
        self.listener = Listener(gateway, router)
        self._sessions = itertools.count(1)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            await respond(send, 405, b"", [(b"allow", b"POST")])
            return
        headers = Headers(scope["headers"])
        accept = headers.get(b"accept") or ""
        if "application/json" not in accept or "text/event-stream" not in accept:
            error = InvalidRequest(
                "Not Acceptable: Accept must list application/json and text/event-stream"
            )
            await respond(send, 406, jsonrpc.error(None, error), JSON_HEADERS)
            return
        msg = await self._message(receive, send)
        if msg is None:
            return
        reply = _Reply(send)
        try:
            envelope = check_request(headers, msg)
            if msg["method"] == "subscriptions/listen":
                await self.listener.serve(msg, receive, send)
                return
            answer = await self._dispatch(msg, envelope, headers, reply)
        except RpcError as exc:
            answer = jsonrpc.error(msg["id"], exc)
        status, frame = _finished(msg, answer)
        await reply.finish(status, frame)

    async def _message(self, receive: Receive, send: Send) -> JsonObject | None:
        """The request in the body, or None when it has been answered already (an error,
        or 202 for a notification: nothing is defined client→server at 2026)."""
        payload: Any = None
        try:
            payload = jsonrpc.parse(await read_body(receive))
            if isinstance(payload, list):
                raise InvalidRequest("Invalid Request: batches are not part of MCP 2026-07-28")
            msg = jsonrpc.check_message(payload)
            if "method" not in msg:
                raise InvalidRequest("Invalid Request: expected a request, not a response")
        except RpcError as exc:
            frame = jsonrpc.error(error_frame_id(payload), exc)
            await respond(send, 400, frame, JSON_HEADERS)
            return None
        if "id" not in msg:
            await respond(send, 202, b"", [])
            return None
        return msg

    async def _dispatch(
        self, msg: JsonObject, envelope: Envelope, headers: Headers, reply: _Reply
    ) -> bytes:
        method: str = msg["method"]
        params: JsonObject = msg.setdefault("params", {})
        _strip_protocol_meta(params)
        if method == "server/discover":
            return jsonrpc.result(msg["id"], self._discover())
        if method in REMOVED or (method not in ROUTED and method not in NAMED_BY):
            raise MethodNotFound(f"Method not found: {method}")
        if method == "tools/call":
            self._check_param_headers(params, headers)
        if method in NAMED_BY:
            target = params.get(NAMED_BY[method])
            if not isinstance(target, str):
                raise RpcError(
                    f"{method}: params.{NAMED_BY[method]} must be a string", code=INVALID_PARAMS
                )
            claims = self.direct.route(msg)
            if claims is not None:
                return await self.direct.serve(msg, envelope, target, reply, claims)
            return await self.bridge.serve(msg, envelope, target, reply)
        session = Session(id=f"stateless-{next(self._sessions)}", protocol_version=LATEST_MODERN)
        session.client_capabilities = envelope.capabilities
        session.log_level = envelope.log_level
        answer = await self.router.handle(session, msg)
        assert answer is not None
        return answer

    def _check_param_headers(self, params: JsonObject, headers: Headers) -> None:
        name = params.get("name")
        tool = self.gateway.catalogs["tools"].item(name) if isinstance(name, str) else None
        if tool is not None:
            check_param_headers(tool.get("inputSchema"), params.get("arguments"), headers)

    def _discover(self) -> JsonObject:
        return {
            "supportedVersions": list(MODERN_REVISIONS),
            "capabilities": self.router.capabilities(),
            "_meta": {META_SERVER_INFO: {"name": "only1mcp", "version": __version__}},
        }


def _strip_protocol_meta(params: JsonObject) -> None:
    """Drop the 2026 envelope from ``_meta``: it is ours, not the backend's."""
    meta = params.get("_meta")
    if not isinstance(meta, dict):
        return
    kept = {k: v for k, v in meta.items() if not k.startswith(_PROTOCOL_META)}
    if kept:
        params["_meta"] = kept
    else:
        del params["_meta"]


def _finished(msg: JsonObject, answer: bytes) -> tuple[int, bytes]:
    """The HTTP status and the 2026 form of an answer frame (the router speaks handshake)."""
    decoded = orjson.loads(answer)
    error = decoded.get("error")
    if isinstance(error, dict):
        if error.get("code") == RESOURCE_NOT_FOUND and msg["method"] == "resources/read":
            uri = (msg.get("params") or {}).get("uri")
            error.update(code=INVALID_PARAMS, data={"uri": uri})
        status = HTTP_STATUS.get(error.get("code", 0), 200)
        return status, orjson.dumps(decoded)
    result = decoded.get("result")
    if isinstance(result, dict) and "resultType" not in result:
        decoded["result"] = stamp(msg["method"], result)
        if msg["method"] == "resources/read" and result.get("contents") == []:
            uri = (msg.get("params") or {}).get("uri")
            error = {"code": INVALID_PARAMS, "message": "Resource not found", "data": {"uri": uri}}
            return 400, orjson.dumps({"jsonrpc": "2.0", "id": msg["id"], "error": error})
    return 200, orjson.dumps(decoded)


class _Reply:
    """One POST's answer: JSON, unless a notification must go first; then an SSE stream."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._streaming = False
        self._lock = asyncio.Lock()

    async def push(self, frame: bytes) -> None:
        async with self._lock:
            if not self._streaming:
                self._streaming = True
                await self._send(
                    {"type": "http.response.start", "status": 200, "headers": SSE_HEADERS}
                )
            await self._send(
                {"type": "http.response.body", "body": sse_event(frame), "more_body": True}
            )

    async def detach(self) -> None:
        """A 2026 server's streams are never resumed: there is nothing to detach."""

    async def finish(self, status: int, frame: bytes) -> None:
        async with self._lock:
            if self._streaming:
                with contextlib.suppress(OSError):
                    await self._send(
                        {"type": "http.response.body", "body": sse_event(frame), "more_body": False}
                    )
            else:
                await respond(self._send, status, frame, JSON_HEADERS)
