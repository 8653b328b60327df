"""Serving MCP 2026-07-28 (stateless) requests, whatever transport carried them.

Each request is validated on its own (the ladder in :mod:`only1mcp.protocol.modern`), served by
the same router and catalog as the handshake era, and its result stamped as 2026 wants it.
Calls that may need the client's input mid-way (``tools/call``, ``prompts/get``,
``resources/read``) go through the :mod:`only1mcp.bridge`: straight on to a 2026 server
(:mod:`~only1mcp.bridge.direct`), parked for a handshake-era one
(:mod:`~only1mcp.bridge.calls`). ``subscriptions/listen`` goes through :mod:`only1mcp.listen`.
The HTTP front (:mod:`only1mcp.front.modern`) and the stdio front hand requests here.
"""

from __future__ import annotations

import itertools
import logging

import orjson

from only1mcp import __version__
from only1mcp.bridge.calls import Bridge
from only1mcp.bridge.direct import Direct
from only1mcp.errors import INVALID_PARAMS, InvalidParams, MethodNotFound, RpcError, unexpected
from only1mcp.gateway import Gateway
from only1mcp.listen import Listener
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
    stamp,
)
from only1mcp.relay import Reply
from only1mcp.router import Router
from only1mcp.session import Session
from only1mcp.types import JsonObject

log = logging.getLogger("only1mcp.stateless")

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


class StatelessService:
    def __init__(self, gateway: Gateway, router: Router) -> None:
        self.gateway = gateway
        self.router = router
        keys = [key.get_secret_value() for key in gateway.config.front.state_keys]
        self.bridge = Bridge(router.handle, router.relay.from_client, keys, gateway.release)
        self.direct = Direct(router, self.bridge.sealer)
        self.listener = Listener(gateway, router)
        self._sessions = itertools.count(1)

    async def answer(
        self, msg: JsonObject, headers: Headers | None, stream: Reply
    ) -> tuple[int, bytes]:
        """The HTTP status and the response frame for one request (not a listen)."""
        if not self.gateway.ready.is_set():
            await self.gateway.ready.wait()  # the catalog is empty until every server started
        try:
            envelope = check_request(headers, msg)
            answer = await self._dispatch(msg, envelope, headers, stream)
            return _finished(msg, answer)
        except RpcError as exc:
            return _finished(msg, jsonrpc.error(msg["id"], exc))
        except Exception as exc:  # a bug: the client gets -32603, never a 500 or a traceback
            log.exception("failed to handle %s", msg.get("method"))
            return _finished(msg, jsonrpc.error(msg["id"], unexpected(msg.get("method"), exc)))

    async def _dispatch(
        self, msg: JsonObject, envelope: Envelope, headers: Headers | None, stream: Reply
    ) -> bytes:
        method: str = msg["method"]
        params: JsonObject = msg.setdefault("params", {})
        _strip_protocol_meta(params)
        if method == "server/discover":
            return jsonrpc.result(msg["id"], self.discover())
        if method in REMOVED or (method not in ROUTED and method not in NAMED_BY):
            raise MethodNotFound(f"Method not found: {method}")
        if method == "tools/call" and headers is not None:
            self._check_param_headers(params, headers)
        if method in NAMED_BY:
            target = params.get(NAMED_BY[method])
            if not isinstance(target, str):
                raise InvalidParams(f"{method}: params.{NAMED_BY[method]} must be a string")
            claims = self.direct.route(msg)
            if claims is not None:
                return await self.direct.serve(msg, envelope, target, stream, claims)
            return await self.bridge.serve(msg, envelope, target, stream)
        session = Session(id=f"stateless-{next(self._sessions)}", protocol_version=LATEST_MODERN)
        session.client_capabilities = envelope.capabilities
        session.log_level = envelope.log_level
        answer = await self.router.handle(session, msg)
        assert answer is not None  # a request always gets one
        return answer

    def _check_param_headers(self, params: JsonObject, headers: Headers) -> None:
        name = params.get("name")
        tool = self.gateway.catalogs["tools"].item(name) if isinstance(name, str) else None
        if tool is not None:
            check_param_headers(tool.get("inputSchema"), params.get("arguments"), headers)

    def discover(self) -> JsonObject:
        return {
            "supportedVersions": list(MODERN_REVISIONS),
            "capabilities": self.router.capabilities(),
            "_meta": {META_SERVER_INFO: {"name": "only1mcp", "version": __version__}},
        }

    def close(self) -> None:
        self.bridge.close()


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
            error.update(code=INVALID_PARAMS, data={"uri": msg["params"].get("uri")})
        return HTTP_STATUS.get(error.get("code", 0), 200), orjson.dumps(decoded)
    result = decoded.get("result")
    if isinstance(result, dict) and "resultType" not in result:
        if msg["method"] == "resources/read" and result.get("contents") == []:
            missing = InvalidParams("Resource not found", data={"uri": msg["params"].get("uri")})
            return 400, jsonrpc.error(msg["id"], missing)
        decoded["result"] = stamp(msg["method"], result)
    return 200, orjson.dumps(decoded)
