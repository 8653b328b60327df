"""Dispatch of one client message: method → catalog entry → backend, and the answer back.

Requests to a backend get a backend-local id; the backend's response frame comes back as bytes
and only its id is swapped for the client's (in Rust) — results are never decoded here. What
the backend sends before its response (progress, logs, sampling…) goes back through the
:mod:`only1mcp.relay`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from only1mcp._core import rewrite_id
from only1mcp.access.gate import Gate, View
from only1mcp.auth.principal import Principal
from only1mcp.backends import Backend, BackendState
from only1mcp.backends.base import CLIENT_INFO, STREAM_BREAK, Outbound
from only1mcp.bridge import reverse
from only1mcp.catalog import Entry
from only1mcp.catalog.discovery import LazyTools, Visible
from only1mcp.catalog.naming import split_uri, uri_scheme
from only1mcp.config.shaping import Discovery
from only1mcp.errors import InvalidParams, InvalidRequest, MethodNotFound, RpcError, unexpected
from only1mcp.gateway import Gateway
from only1mcp.protocol import jsonrpc, pagination
from only1mcp.protocol.lists import BY_METHOD
from only1mcp.protocol.results import SERVER_INFO
from only1mcp.protocol.revisions import negotiate
from only1mcp.protocol.stateless import STATELESS_REVISIONS, request_headers, with_envelope
from only1mcp.relay import Exchange, Relay, Reply
from only1mcp.session import Session
from only1mcp.types import JsonObject

log = logging.getLogger("only1mcp.router")
Handler = Callable[[Session, JsonObject, Reply | None], Awaitable[bytes]]

# method → catalog kind whose item the request names in params.name
BY_NAME = {"tools/call": "tools", "prompts/get": "prompts"}
BY_URI = ("resources/read", "resources/subscribe", "resources/unsubscribe")
# What a handshake-era client hears from a 2026 server when it never set a log level: all of
# it, as a handshake server would send what it likes.
HANDSHAKE_LOG_LEVEL = "debug"
MAX_PAGES = 4096  # encoded list pages kept


def initialize_without_id() -> InvalidRequest:
    """The error for an ``initialize`` sent as a notification: it needs an answer."""
    return InvalidRequest("Invalid Request: initialize is a request and needs an id")


# Puts the current trace context into a forwarded request's params (tracing on).
Inject = Callable[[JsonObject], JsonObject]


class Router:
    def __init__(
        self, gateway: Gateway, gate: Gate | None = None, inject: Inject | None = None
    ) -> None:
        self.gateway = gateway
        self._inject = inject
        self.relay = gateway.relay
        # Filters the lists per principal (None: authentication is off, everyone sees all).
        self.gate = gate
        # (kind, page start, view) → ((catalog version, failures), encoded result): lists are
        # read far more often than they change (view: what one set of roles sees; None: all).
        # (kind, start, view, catalog) → (stamp, page): a capability set's catalog has its own
        self._pages: dict[tuple[object, ...], tuple[tuple[int, dict[str, str]], bytes]] = {}
        self._handlers: dict[str, Handler] = {
            "initialize": self._initialize,
            "ping": self._ping,
            "logging/setLevel": self._set_level,
            "completion/complete": self._complete,
        }
        self._handlers.update(dict.fromkeys(BY_NAME, self._by_name))
        self._handlers.update(dict.fromkeys(BY_METHOD, self._merged_list))
        self._handlers.update(dict.fromkeys(BY_URI, self._by_uri))
        discovery = gateway.config.discovery
        # discovery: lazy — tools/list offers search_tools and call_tool (catalog/discovery.py)
        self.lazy: LazyTools | None = None
        if discovery.mode is Discovery.LAZY:
            tools = gateway.catalogs["tools"]
            self.lazy = LazyTools(tools, discovery.always_visible, discovery.limit)
            self._handlers["tools/call"] = self._lazy_call

    async def handle(
        self, session: Session, msg: JsonObject, reply: Reply | None = None
    ) -> bytes | None:
        """Answer one validated message; None for notifications and responses (but for an
        ``initialize`` without an id: it cannot be a notification, and says so)."""
        if not self.gateway.ready.is_set():
            await self.gateway.ready.wait()  # the catalog is empty until every server started
        method = msg.get("method")
        if method is None:
            await self.relay.from_client(session, msg)
            return None
        if "id" not in msg:
            if method == "initialize":
                return jsonrpc.error(None, initialize_without_id())
            await self._notification(session, msg)
            return None
        handler = self._handlers.get(method)
        try:
            if handler is None:
                raise MethodNotFound(f"Method not found: {method}")
            return await handler(session, msg, reply)
        except RpcError as exc:
            return jsonrpc.error(msg["id"], exc)
        except Exception as exc:  # a bug: the client gets -32603, never a 500 or a traceback
            log.exception("failed to handle %s", method)
            return jsonrpc.error(msg["id"], unexpected(method, exc))

    # ------------------------------------------------------------------ our own

    async def _initialize(self, session: Session, msg: JsonObject, reply: Reply | None) -> bytes:
        params = msg.get("params") or {}
        session.protocol_version = negotiate(params.get("protocolVersion"))
        caps = params.get("capabilities")
        session.client_capabilities = caps if isinstance(caps, dict) else {}
        info = params.get("clientInfo")
        session.client_info = info if isinstance(info, dict) else {}
        result = {
            "protocolVersion": session.protocol_version,
            "capabilities": self.capabilities(),
            "serverInfo": SERVER_INFO,
        }
        return jsonrpc.result(msg["id"], result)

    def capabilities(self) -> JsonObject:
        """The union of what the backends offer, limited to what we relay."""
        caps: JsonObject = {"tools": {"listChanged": True}}
        for backend in self.gateway.backends.values():
            offered = backend.capabilities
            if "prompts" in offered:
                caps["prompts"] = {"listChanged": True}
            if "resources" in offered:
                resources = caps.setdefault("resources", {"listChanged": True})
                if offered["resources"].get("subscribe"):
                    resources["subscribe"] = True
            for plain in ("logging", "completions"):
                if plain in offered:
                    caps[plain] = {}
        return caps

    async def _ping(self, session: Session, msg: JsonObject, reply: Reply | None) -> bytes:
        return jsonrpc.result(msg["id"], {})

    async def _set_level(self, session: Session, msg: JsonObject, reply: Reply | None) -> bytes:
        """Fan out to every server that logs; one that fails does not fail the others. A 2026
        server is told per request instead (the level goes into each request's ``_meta``)."""
        params = msg.get("params") or {}
        level = params.get("level")
        session.log_level = level if isinstance(level, str) else None
        loggers = [
            b
            for b in [*self.gateway.backends.values(), *self.gateway.faces()]
            if "logging" in b.capabilities and b.state is BackendState.READY and not b.stateless
        ]
        await asyncio.gather(
            *(b.call("logging/setLevel", params) for b in loggers), return_exceptions=True
        )
        return jsonrpc.result(msg["id"], {})

    async def _merged_list(self, session: Session, msg: JsonObject, reply: Reply | None) -> bytes:
        spec = BY_METHOD[msg["method"]]
        kind, key = spec.kind, spec.result_key
        params = msg.get("params") or {}
        catalog = self.gateway.catalogs[kind]
        variants = self.gateway.variants
        if variants.may_vary(session):  # a client that declared fewer capabilities
            catalog = await variants.catalog(kind, session, self.gateway.shared)
        failures = self.gateway.failures()
        view = None if self.gate is None else self.gate.view(session.principal)
        if self.lazy is not None and kind == "tools":
            items = self.lazy.listed(_visible(view))
        else:
            items = catalog.merged() if view is None else view.visible(kind, catalog)
        start = pagination.decode(kind, params.get("cursor"), len(items))
        stamp = (catalog.version, failures)
        cached = self._pages.get((kind, start, view, catalog))
        if cached is None or cached[0] != stamp:
            cached = (stamp, orjson.dumps(self._page(kind, key, items, start, failures)))
            if len(self._pages) >= MAX_PAGES:  # one set per view: bounded
                self._pages.clear()
            self._pages[(kind, start, view, catalog)] = cached
        return jsonrpc.result_raw(msg["id"], cached[1])

    @staticmethod
    def _page(
        kind: str, key: str, items: list[JsonObject], start: int, failures: dict[str, str]
    ) -> JsonObject:
        result: JsonObject = {key: items[start : start + pagination.PAGE_SIZE]}
        if start + pagination.PAGE_SIZE < len(items):
            result["nextCursor"] = pagination.encode(kind, start + pagination.PAGE_SIZE)
        if failures:
            result["_meta"] = {"only1mcp/errors": failures}
        return result

    # ------------------------------------------------------------------- routed

    def _by_name(self, session: Session, msg: JsonObject, reply: Reply | None) -> Awaitable[bytes]:
        # Not a coroutine: it validates now and hands back _forward's, a frame less per call.
        params: JsonObject = msg.get("params") or {}
        name = params.get("name")
        kind = BY_NAME[msg["method"]]
        if not isinstance(name, str):
            raise InvalidParams(f"{msg['method']}: params.name must be a string")
        catalog = self.gateway.catalogs[kind]
        entry = catalog.lookup(name)
        if entry is None:
            raise catalog.unknown(kind[:-1], name)
        return self._forward(session, msg, reply, entry.server, entry.params(params))

    async def _lazy_call(self, session: Session, msg: JsonObject, reply: Reply | None) -> bytes:
        """A tools/call in lazy mode: search_tools answered here, call_tool unwrapped."""
        params = msg.get("params")
        if isinstance(params, dict) and self.lazy is not None:
            answered = self.lazy.intercept(params, self.visible_tools(session.principal))
            if answered is not None:
                return jsonrpc.result(msg["id"], answered)
        return await self._by_name(session, msg, reply)

    def visible_tools(self, principal: Principal) -> Visible:
        """Which tools ``principal`` may see (None: all), for lazy mode's search."""
        return _visible(None if self.gate is None else self.gate.view(principal))

    def call_tool(self, session: Session, msg: JsonObject, reply: Reply | None) -> Awaitable[bytes]:
        """:meth:`_by_name` for a ``tools/call`` whose ``params`` and ``params.name`` (a str)
        the caller checked: the 2026 straight path, which frames the errors raised itself."""
        params: JsonObject = msg["params"]
        catalog = self.gateway.catalogs["tools"]
        entry = catalog.lookup(params["name"])
        if entry is None:
            raise catalog.unknown("tool", params["name"])
        return self._forward(session, msg, reply, entry.server, entry.params(params))

    async def call_stateless(
        self, session: Session, msg: JsonObject, reply: Reply | None, entry: Entry
    ) -> bytes:
        """A 2026 client's plain ``tools/call`` of ``entry`` (looked up by the caller) on a
        2026 server: straight to :meth:`_round`, without the dispatch, the lookup and the
        era checks of :meth:`_forward` (the 2026 straight path; the caller frames errors)."""
        params = entry.params(msg["params"])
        if self._inject is not None:
            params = self._inject(params)
        server = entry.server
        backend = self.gateway.serving(server, session) or await self.gateway.backend_for(
            server, session
        )
        if not backend.stateless:  # its era changed since the caller looked: the long way
            return await self._forward(session, msg, reply, server, params)
        answer, _ = await self._round(session, msg, reply, backend, params)
        return rewrite_id(answer, msg["id"])

    def owner(self, method: str, params: JsonObject) -> Entry:
        """The server (and its own name for it) that a tools/call, prompts/get or
        resources/read targets."""
        if method not in BY_NAME:
            return self._resolve_uri(str(params.get("uri")))
        name = str(params.get("name"))
        catalog = self.gateway.catalogs[BY_NAME[method]]
        entry = catalog.lookup(name)
        if entry is None:
            raise catalog.unknown(BY_NAME[method][:-1], name)
        return entry

    async def _by_uri(self, session: Session, msg: JsonObject, reply: Reply | None) -> bytes:
        params: JsonObject = msg.get("params") or {}
        uri = params.get("uri")
        if not isinstance(uri, str):
            raise InvalidParams(f"{msg['method']}: params.uri must be a string")
        entry = self._resolve_uri(uri)
        forwarded = {**params, "uri": entry.name}
        if msg["method"] == "resources/subscribe":
            self.relay.subscribe(session, uri)
        elif msg["method"] == "resources/unsubscribe" and not self.relay.unsubscribe(session, uri):
            return jsonrpc.result(msg["id"], {})  # others still want its updates
        return await self._forward(session, msg, reply, entry.server, forwarded)

    async def _complete(self, session: Session, msg: JsonObject, reply: Reply | None) -> bytes:
        params: JsonObject = msg.get("params") or {}
        ref = params.get("ref")
        if not isinstance(ref, dict):
            raise InvalidParams("completion/complete: params.ref must be an object")
        if ref.get("type") == "ref/prompt" and isinstance(ref.get("name"), str):
            prompts = self.gateway.catalogs["prompts"]
            entry = prompts.lookup(ref["name"])
            if entry is None:
                raise prompts.unknown("prompt", ref["name"])
            ref = {**ref, "name": entry.name}
        elif ref.get("type") == "ref/resource" and isinstance(ref.get("uri"), str):
            entry = self._resolve_uri(ref["uri"])
            ref = {**ref, "uri": entry.name}
        else:
            raise InvalidParams("completion/complete: unknown ref type")
        return await self._forward(session, msg, reply, entry.server, {**params, "ref": ref})

    def _resolve_uri(self, uri: str) -> Entry:
        """The server and original URI behind an exposed resource URI (or template match), if
        the configuration exposes it."""
        entry = self._find_uri(uri)
        if not self.gateway.catalogs["resources"].allows(entry.server, entry.name):
            raise InvalidParams(f"Resource {uri} is not exposed by the configuration", {"uri": uri})
        return entry

    def _find_uri(self, uri: str) -> Entry:
        for kind in ("resources", "templates"):
            entry = self.gateway.catalogs[kind].lookup(uri)
            if entry is not None:
                return entry
        split = split_uri(uri)
        prefixes = self.gateway.catalogs["resources"].prefixes
        if split is not None:
            for server, prefix in prefixes.items():
                if prefix and uri_scheme(prefix) == split[0]:
                    return Entry(server, split[1])
        unprefixed = [s for s, p in prefixes.items() if not p]
        for server in unprefixed:
            for template in self.gateway.catalogs["templates"].items.get(server, ()):
                if _matches(str(template.get("uriTemplate", "")), uri):
                    return Entry(server, uri)
        with_resources = [s for s in unprefixed if "resources" in self._caps(s)]
        if len(with_resources) == 1:
            return Entry(with_resources[0], uri)
        raise InvalidParams(f"Unknown resource: {uri}", data={"uri": uri})

    def _caps(self, server: str) -> JsonObject:
        return self.gateway.backends[server].capabilities

    async def _forward(
        self,
        session: Session,
        msg: JsonObject,
        reply: Reply | None,
        server: str,
        params: JsonObject,
    ) -> bytes:
        backend = self.gateway.serving(server, session) or await self.gateway.backend_for(
            server, session
        )
        if self._inject is not None:
            params = self._inject(params)
        if backend.stateless:
            return await self._forward_stateless(session, msg, reply, backend, params)
        local_id = backend.next_id()
        meta = params.get("_meta")
        token = meta.get("progressToken") if isinstance(meta, dict) else None
        if token is not None:
            # The local id is unique per backend, so progress finds its way back.
            params["_meta"] = {**meta, "progressToken": local_id}  # type: ignore[dict-item]
        request = Outbound(
            _request_frame(local_id, msg["method"], params),
            local_id,
            msg["method"],
            None,
            params,
            None,
            session,
        )
        answer, _ = await self._send(session, msg, reply, backend, request, token)
        return rewrite_id(answer, msg["id"])

    async def _forward_stateless(
        self,
        session: Session,
        msg: JsonObject,
        reply: Reply | None,
        backend: Backend,
        params: JsonObject,
    ) -> bytes:
        """A request to a 2026 server: as it is for a 2026 client; through the reverse bridge
        for a handshake-era one. Resource subscriptions become its listen stream's filter."""
        method: str = msg["method"]
        if method in ("resources/subscribe", "resources/unsubscribe"):
            uri = str(params.get("uri"))
            if method == "resources/subscribe":
                await backend.subscribe(uri)
            else:
                backend.unsubscribe(uri)
            return jsonrpc.result(msg["id"], {})

        def send(params: JsonObject) -> Awaitable[tuple[bytes, Exchange]]:
            return self._round(session, msg, reply, backend, params)

        if session.protocol_version in STATELESS_REVISIONS:
            answer, _ = await send(params)
        else:
            answer = await reverse.complete(params, send, self.relay)
        return rewrite_id(answer, msg["id"])

    async def _round(
        self,
        session: Session,
        msg: JsonObject,
        reply: Reply | None,
        backend: Backend,
        params: JsonObject,
    ) -> tuple[bytes, Exchange]:
        """Send one request to a 2026 server: the caller's capabilities and log level in its
        ``_meta``, its routing facts in headers."""
        method: str = msg["method"]
        local_id = backend.next_id()
        stateless = session.protocol_version in STATELESS_REVISIONS
        level = session.log_level if stateless else session.log_level or HANDSHAKE_LOG_LEVEL
        caps = session.client_capabilities
        sent = with_envelope(params, backend.version, caps, CLIENT_INFO, level)
        token = sent["_meta"].get("progressToken")
        if token is not None:
            sent["_meta"]["progressToken"] = local_id
        schema = None
        if method == "tools/call":
            tool = self.gateway.catalogs["tools"].item(str(msg["params"].get("name")))
            schema = tool.get("inputSchema") if tool is not None else None
        headers = request_headers(backend.version, method, sent, schema)
        frame = _request_frame(local_id, method, sent)
        request = Outbound(frame, local_id, method, None, sent, headers, session)
        return await self._send(session, msg, reply, backend, request, token)

    async def _send(
        self,
        session: Session,
        msg: JsonObject,
        reply: Reply | None,
        backend: Backend,
        request: Outbound,
        token: object,
    ) -> tuple[bytes, Exchange]:
        """Forward ``request`` (the client's ``msg``, framed for ``backend``) as one exchange:
        what the backend sends meanwhile reaches ``reply``; a client that goes away cancels it
        at the backend too. The answer keeps the backend's id."""
        local_id = request.id
        exchange = self.relay.open(session, msg["id"], reply, backend, local_id, token)
        if reply is not None and backend.streams_per_request:
            request.sink = _bind(self.gateway, self.relay, backend, exchange)
        try:
            answer = await backend.forward(request)
        except asyncio.CancelledError:
            await self._cancel_backend(backend, local_id, "client went away")
            raise
        finally:
            self.relay.close(exchange)
        return answer, exchange

    # ------------------------------------------------------------ notifications

    async def _notification(self, session: Session, msg: JsonObject) -> None:
        method = msg["method"]
        params: Any = msg.get("params") or {}
        if method == "notifications/initialized":
            session.initialized = True
            if session in self.relay.roots_holders():
                # What a server asks a client that connects to it directly: its roots.
                await self.gateway.roots_changed(session)
        elif method == "notifications/cancelled":
            exchange = self.relay.find(session, params.get("requestId"))
            if exchange is not None:
                await self._cancel_backend(
                    exchange.backend, exchange.local_id, params.get("reason")
                )
                exchange.cancel()
        elif method == "notifications/roots/list_changed":
            await self.gateway.roots_changed(session)

    @staticmethod
    async def _cancel_backend(backend: Backend, local_id: int, reason: object) -> None:
        params: JsonObject = {"requestId": local_id}
        if isinstance(reason, str):
            params["reason"] = reason
        # A backend that is gone has nothing left to cancel.
        with contextlib.suppress(RpcError):
            await backend.notify(jsonrpc.notification("notifications/cancelled", params))


def _visible(view: View | None) -> Visible:
    return None if view is None else functools.partial(_grants, view)


def _grants(view: View, name: str) -> bool:
    return bool(view.granting("tools", name))


def _bind(
    gateway: Gateway, relay: Relay, backend: Backend, exchange: Exchange
) -> Callable[[bytes], Awaitable[None]]:
    async def sink(frame: bytes) -> None:
        if frame == STREAM_BREAK:
            await exchange.send_break()
        elif not await gateway.list_changed(backend, frame):
            await relay.from_backend(backend, frame, exchange)

    return sink


def _request_frame(local_id: int, method: str, params: JsonObject) -> bytes:
    try:
        return orjson.dumps({"jsonrpc": "2.0", "id": local_id, "method": method, "params": params})
    except orjson.JSONEncodeError as exc:  # orjson parses 1024 levels deep, encodes 254
        raise InvalidParams(f"{method}: params cannot be forwarded: {exc}") from None


def _matches(template: str, uri: str) -> bool:
    """Whether ``uri`` fits an RFC 6570 level-1 template such as ``test://item/{id}/data``."""
    parts = re.split(r"\{[^}]*\}", template)
    pattern = "[^/]+".join(re.escape(part) for part in parts)
    return re.fullmatch(pattern, uri) is not None
