"""Serving MCP 2026-07-28 (stateless) requests, whatever transport carried them.

Each request is validated on its own (the ladder in :mod:`only1mcp.protocol.stateless`), served by
the same router and catalog as the handshake era, and its result stamped as 2026 wants it.
Calls that may need the client's input mid-way (``tools/call``, ``prompts/get``,
``resources/read``) go through the :mod:`only1mcp.bridge`: straight on to a 2026 server
(:mod:`~only1mcp.bridge.direct`), parked for a handshake-era one
(:mod:`~only1mcp.bridge.calls`). ``subscriptions/listen`` goes through :mod:`only1mcp.listen`.
The HTTP front (:mod:`only1mcp.front.stateless`) and the stdio front hand requests here.
"""

from __future__ import annotations

import functools
import itertools
import logging
from collections.abc import Awaitable

import orjson

from only1mcp import __version__
from only1mcp._core import result_stamped, stamp_complete
from only1mcp.auth.principal import ANONYMOUS, Principal
from only1mcp.backends import Backend
from only1mcp.bridge.call import RoundReply
from only1mcp.bridge.calls import Bridge
from only1mcp.bridge.direct import Direct
from only1mcp.catalog import Entry
from only1mcp.errors import INVALID_PARAMS, InvalidParams, MethodNotFound, RpcError, unexpected
from only1mcp.gateway import Gateway
from only1mcp.listen import Listener
from only1mcp.protocol import jsonrpc
from only1mcp.protocol.lists import LIST_METHODS
from only1mcp.protocol.results import (
    CACHEABLE,
    RESULT_OBJECT,
    STAMPED,
    stamp,
)
from only1mcp.protocol.stateless import (
    HTTP_STATUS,
    LATEST_STATELESS,
    LOG_LEVELS,
    META_CAPABILITIES,
    META_CLIENT_INFO,
    META_LOG_LEVEL,
    META_SERVER_INFO,
    META_VERSION,
    NAMED_BY,
    REMOVED,
    STATELESS_REVISIONS,
    Envelope,
    Headers,
    check_param_headers,
    check_request,
    declares_param_headers,
    encode_header_value,
)
from only1mcp.router import Router
from only1mcp.session import Session
from only1mcp.types import JsonObject

log = logging.getLogger("only1mcp.stateless")

# Served by the router as they are (beyond the bridged ones and our own).
ROUTED = LIST_METHODS | {"completion/complete"}
RESOURCE_NOT_FOUND = -32002  # the handshake era's code; 2026 says -32602 with data.uri
_PROTOCOL_META = "io.modelcontextprotocol/"
_LATEST, _TOOLS_CALL = LATEST_STATELESS.encode(), b"tools/call"  # a plain call's header values
_ENVELOPE_KEYS = frozenset({META_VERSION, META_CAPABILITIES, META_CLIENT_INFO, META_LOG_LEVEL})


class StatelessService:
    def __init__(self, gateway: Gateway, router: Router) -> None:
        self.gateway = gateway
        self.router = router
        keys = [key.get_secret_value() for key in gateway.config.front.state_keys]
        self.bridge = Bridge(router.handle, router.relay.from_client, keys, gateway.release)
        self.direct = Direct(
            router.owner, router.handle, gateway.shared, self.bridge.sealer, router.call_stateless
        )
        self.listener = Listener(gateway.sessions, router.handle)
        self._sessions = itertools.count(1)
        # (tools catalog version, the tools whose schema names Mcp-Param-* headers)
        self._param_tools: tuple[int, frozenset[str]] = (-1, frozenset())
        self._tools = gateway.catalogs["tools"]
        self._ready = False  # gateway.ready, once it is set
        # The tools fresh_call serves (and the Mcp-Name header line a call of each comes
        # with), as of the tools catalog version and Backend.generation in _plain_version and
        # _plain_generation (two ints: compared as a tuple, a call would build one).
        self._plain: dict[str, bytes] = {}
        self._direct_tools: dict[str, Entry] = {}  # those of _plain on a shared 2026 server
        self._plain_version = self._plain_generation = -1
        self._call = router.call_tool  # what fresh_call dispatches to (bound once)

    def answer(
        self,
        msg: JsonObject,
        headers: Headers | None,
        stream: RoundReply,
        principal: Principal = ANONYMOUS,
    ) -> Awaitable[tuple[int, bytes] | None]:
        """The HTTP status and the response frame for one request (not a listen); None when
        the answer went out through ``stream.finish`` already (a bridged call that asked: the
        awaiting task carries its backend call on, see :mod:`only1mcp.bridge.calls`).
        ``principal`` is who asks: the lists it gets are what it may see (its calls were
        admitted by the front).

        Not a coroutine: it validates now and hands back the awaitable of the path that serves
        the request, so a 2026 call runs in as many frames as a handshake one."""
        if not self._ready:
            if not self.gateway.ready.is_set():
                return self._when_ready(msg, headers, stream, principal)
            self._ready = True
        try:
            envelope = check_request(headers, msg)
            return self._dispatch(msg, envelope, headers, stream, principal)
        except RpcError as exc:
            return _now(_finished(msg, jsonrpc.error(msg["id"], exc)))
        except Exception as exc:  # a bug: the client gets -32603, never a 500 or a traceback
            return _now(_finished(msg, _unexpected(msg, exc)))

    async def _when_ready(
        self, msg: JsonObject, headers: Headers | None, stream: RoundReply, principal: Principal
    ) -> tuple[int, bytes] | None:
        await self.gateway.ready.wait()  # the catalog is empty until every server started
        return await self.answer(msg, headers, stream, principal)

    def fresh_call(
        self, msg: JsonObject, lines: dict[bytes, bytes], repeats: bool, stream: RoundReply
    ) -> Awaitable[tuple[int, bytes] | None] | None:
        """The straight path of what almost every 2026 request is: a fresh ``tools/call`` with
        the envelope alone in ``_meta``, headers as a client sends them (``lines``, none of
        them twice), to a tool without ``Mcp-Param-*`` headers: on a handshake-era server
        through the bridge, on a shared 2026 server straight to it (:meth:`Direct.fresh`). Each
        test is a rung of the ladder (:func:`check_request`, :meth:`_dispatch`) passed in its
        common form; None when any is not (or before the catalog is ready): :meth:`answer`
        then runs the whole ladder, which says what is wrong."""
        params = msg.get("params")
        if params.__class__ is not dict or repeats or msg["method"] != "tools/call":
            return None
        meta = params.get("_meta")
        name = params.get("name")
        if name.__class__ is not str or meta.__class__ is not dict:
            return None
        if (
            self._plain_version != self._tools.version
            or self._plain_generation != Backend.generation
        ) and not self._plain_tools():
            return None  # the catalog is not ready
        routed = self._plain.get(name)  # the Mcp-Name a call of this tool comes with
        # Its keys are name and _meta, and arguments if any: no requestState, task… (counted,
        # not compared as sets: the same test at a fraction of the cost).
        size = len(params)
        if (
            routed is None
            or (size != 2 and (size != 3 or "arguments" not in params))
            or lines.get(b"mcp-name") != routed
            or lines.get(b"mcp-method") != _TOOLS_CALL
            or lines.get(b"mcp-protocol-version") != _LATEST
            or meta.get(META_VERSION) != LATEST_STATELESS
        ):
            return None
        caps = meta.get(META_CAPABILITIES)
        info = meta.get(META_CLIENT_INFO)
        level = meta.get(META_LOG_LEVEL)
        # The envelope alone (its version and capabilities there, the rest if not None): a
        # member of JSON null, or any other, is the ladder's to judge.
        if caps.__class__ is not dict or len(meta) != 2 + (info is not None) + (level is not None):
            return None
        del params["_meta"]
        envelope = Envelope(
            LATEST_STATELESS,
            caps,
            info if info.__class__ is dict else {},
            # (None first: ``in`` a tuple compares None with each member, both ways.)
            None if level is None else level if level in LOG_LEVELS else None,
        )
        entry = self._direct_tools.get(name)
        if entry is not None:
            return _finishing(msg, self.direct.fresh(msg, envelope, entry, stream))
        return self.bridge.carry(msg, envelope, name, stream, _finished_call, None, self._call)

    def _plain_tools(self) -> bool:
        """The tools :meth:`fresh_call` may serve, with the ``Mcp-Name`` a call of each comes
        with: those named in plain printable ASCII (their ``Mcp-Name`` is the name's bytes)
        that declare no ``Mcp-Param-*`` header; those of a shared 2026 server
        (whose calls go :mod:`~only1mcp.bridge.direct`, as :meth:`Direct.route` says) with
        their catalog entry in ``_direct_tools``. False (and nothing done) until the catalog is
        ready."""
        if not self._ready:
            if not self.gateway.ready.is_set():
                return False
            self._ready = True
        self._plain_version, self._plain_generation = self._tools.version, Backend.generation
        self._plain, self._direct_tools = {}, {}
        shared = self.gateway.shared
        names = {tool["name"] for tool in self._tools.merged()} - self._param_tool_names()
        for name in names:
            entry = self._tools.lookup(name)
            if entry is None or encode_header_value(name) != name:
                continue
            self._plain[name] = name.encode()
            backend = shared.get(entry.server)
            if backend is not None and backend.stateless:
                self._direct_tools[name] = entry
        return True

    def _dispatch(
        self,
        msg: JsonObject,
        envelope: Envelope,
        headers: Headers | None,
        stream: RoundReply,
        principal: Principal,
    ) -> Awaitable[tuple[int, bytes] | None]:
        method: str = msg["method"]
        params: JsonObject = msg["params"]  # an object with _meta: check_request saw to it
        if params["_meta"].keys() <= _ENVELOPE_KEYS:  # all it almost ever carries
            del params["_meta"]
        else:
            _strip_protocol_meta(params)
        if method in NAMED_BY:
            if method == "tools/call" and headers is not None:
                self._check_param_headers(params, headers)
            lazy = self.router.lazy
            if method == "tools/call" and lazy is not None:  # search_tools, call_tool
                answered = lazy.intercept(params, self.router.visible_tools(principal))
                if answered is not None:
                    return _now(_finished(msg, jsonrpc.result(msg["id"], answered)))
            target = params.get(NAMED_BY[method])
            if not isinstance(target, str):
                raise InvalidParams(f"{method}: params.{NAMED_BY[method]} must be a string")
            claims = self.direct.route(msg)
            if claims is None:
                finish = functools.partial(_finished, msg)
                return self.bridge.serve(msg, envelope, target, stream, finish)
            return _finishing(msg, self.direct.serve(msg, envelope, target, stream, claims))
        if method == "server/discover":
            return _now(_finished(msg, jsonrpc.result(msg["id"], self.discover())))
        if method in REMOVED or method not in ROUTED:
            raise MethodNotFound(f"Method not found: {method}")
        session = Session(id=f"stateless-{next(self._sessions)}", protocol_version=LATEST_STATELESS)
        session.principal = principal
        session.client_capabilities = envelope.capabilities
        session.log_level = envelope.log_level
        return _finishing(msg, self.router.handle(session, msg))

    def _param_tool_names(self) -> frozenset[str]:
        """The tools whose schema declares ``Mcp-Param-*`` headers (per catalog version)."""
        catalog = self._tools
        if self._param_tools[0] != catalog.version:
            tools = catalog.merged()
            named = {t["name"] for t in tools if declares_param_headers(t.get("inputSchema"))}
            self._param_tools = (catalog.version, frozenset(named))
        return self._param_tools[1]

    def _check_param_headers(self, params: JsonObject, headers: Headers) -> None:
        catalog = self._tools
        name = params.get("name")
        if name.__class__ is str and name in self._param_tool_names():
            tool = catalog.item(name)
            assert tool is not None  # it is in the catalog of this version
            check_param_headers(tool.get("inputSchema"), params.get("arguments"), headers)

    def discover(self) -> JsonObject:
        return {
            "supportedVersions": list(STATELESS_REVISIONS),
            "capabilities": self.router.capabilities(),
            "_meta": {META_SERVER_INFO: {"name": "only1mcp", "version": __version__}},
        }

    def close(self) -> None:
        self.bridge.close()


async def _now(answer: tuple[int, bytes]) -> tuple[int, bytes]:
    return answer


async def _finishing(msg: JsonObject, work: Awaitable[bytes | None]) -> tuple[int, bytes]:
    try:
        answer = await work
    except RpcError as exc:
        answer = jsonrpc.error(msg["id"], exc)
    except Exception as exc:  # a bug: the client gets -32603, never a 500 or a traceback
        answer = _unexpected(msg, exc)
    assert answer is not None  # a request always gets one
    return _finished(msg, answer)


def _unexpected(msg: JsonObject, exc: Exception) -> bytes:
    """The -32603 answer for a bug met while serving ``msg`` (its traceback goes to the log)."""
    log.exception("failed to handle %s", msg.get("method"))
    return jsonrpc.error(msg["id"], unexpected(msg.get("method"), exc))


def _strip_protocol_meta(params: JsonObject) -> None:
    """Drop the 2026 envelope from ``_meta``: it is ours, not the backend's."""
    meta = params.get("_meta")
    if not isinstance(meta, dict):
        return
    if meta.keys() <= _ENVELOPE_KEYS:  # what a request carries, and almost always all it does
        del params["_meta"]
    elif any(key.startswith(_PROTOCOL_META) for key in meta):
        kept = {k: v for k, v in meta.items() if not k.startswith(_PROTOCOL_META)}
        if kept:
            params["_meta"] = kept
        else:
            del params["_meta"]


def _finished_call(answer: bytes) -> tuple[int, bytes]:
    """:func:`_finished` for a ``tools/call`` (the straight path's: no message at hand), its
    common case first: a plain success, stamped in one Rust call."""
    stamped = stamp_complete(answer)
    return (200, stamped) if stamped is not None else _finished(_A_CALL, answer)


def _stamped(answer: bytes) -> bool:
    """Whether the top-level result has a ``resultType`` of its own (one Rust scan, where
    decoding the frame would build all of it); False for a frame that is not JSON (decoding
    it says what is wrong)."""
    try:
        return result_stamped(answer)
    except ValueError:
        return False


_A_CALL: JsonObject = {"method": "tools/call"}  # all _finished reads of a tools/call
_AFTER_RESULT = len(RESULT_OBJECT)


def _finished(msg: JsonObject, answer: bytes) -> tuple[int, bytes]:
    """The HTTP status and the 2026 form of an answer frame (the router speaks handshake).

    A plain success frame is stamped as bytes (what almost every call answers), one a 2026
    server stamped already passes as it is; the rest is decoded: errors get their status, and
    empty resource reads become -32602.
    """
    at = answer.find(RESULT_OBJECT)
    # A 2026 server's result: nothing to add (decoded, it would be re-encoded as it is). The
    # only "{" before the result's is the frame's own: it is the top-level member (see
    # _core.stamp_complete). "resultType" first is the form most servers write; elsewhere in the
    # result, one scan tells it from a nested object's key.
    if (
        at > 0
        and answer.rfind(b"{", 0, at) == 0
        and answer.find(STAMPED, at) != -1
        and (answer.startswith(STAMPED, at + _AFTER_RESULT) or _stamped(answer))
    ):
        return 200, answer
    if msg["method"] not in CACHEABLE:  # those get caching hints too
        stamped = stamp_complete(answer)
        if stamped is not None:
            return 200, stamped
    decoded = orjson.loads(answer)
    error = decoded.get("error")
    if isinstance(error, dict):
        if error.get("code") == RESOURCE_NOT_FOUND and msg["method"] == "resources/read":
            error.update(code=INVALID_PARAMS, data={"uri": msg["params"].get("uri")})
        return HTTP_STATUS.get(error.get("code", 0), 200), orjson.dumps(decoded)
    result = decoded.get("result")
    if isinstance(result, dict) and "resultType" in result:
        return 200, answer  # stamped by a 2026 server, "resultType" not first: as it came
    if isinstance(result, dict):
        if msg["method"] == "resources/read" and result.get("contents") == []:
            missing = InvalidParams("Resource not found", data={"uri": msg["params"].get("uri")})
            return 400, jsonrpc.error(msg["id"], missing)
        decoded["result"] = stamp(msg["method"], result)
    return 200, orjson.dumps(decoded)
