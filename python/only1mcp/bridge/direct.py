"""A 2026-07-28 client's call to a 2026-07-28 server: forwarded as it is, names mapped.

Nothing needs bridging: the server's ``input_required`` result goes to the client unchanged,
except its ``requestState``. That is sealed inside Only1MCP's own state, together with the
server's name and the call it belongs to (method, target, arguments digest), so that

* the retry goes back to that server and no other (a state minted for one backend cannot be
  replayed against another, nor against another tool of the same one), and
* the client cannot tell, or tamper with, what the server put in it.

The retry's state is opened and the server's own handed back to it. The state is sealed even
when the server gave none, so a retry is always bound to the server that asked.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson

from only1mcp.backends import Backend
from only1mcp.bridge.calls import MAX_IDLE_SESSIONS
from only1mcp.bridge.state import Claims, StateSealer, digest, invalid_state
from only1mcp.catalog import Entry
from only1mcp.protocol.stateless import LATEST_STATELESS, Envelope
from only1mcp.relay import Reply
from only1mcp.session import Session
from only1mcp.types import JsonObject

# The router's two services this path uses: who owns a call's target (method, params), and
# the dispatch of one request (session, message, reply) → its answer frame.
Owner = Callable[[str, JsonObject], Entry]
Handle = Callable[[Session, JsonObject, Reply | None], Awaitable[bytes | None]]
# The router's straight call of a fresh tools/call to a 2026 server (the entry it targets).
CallStateless = Callable[[Session, JsonObject, Reply | None, Entry], Awaitable[bytes]]


class Direct:
    def __init__(
        self,
        owner: Owner,
        handle: Handle,
        shared: Mapping[str, Backend],
        sealer: StateSealer,
        call: CallStateless | None = None,
    ) -> None:
        self._owner = owner
        self._handle = handle
        self._call = call  # the straight path's (fresh); None: every call goes through handle
        self._shared = shared  # server → the backend every session shares (the gateway's)
        self.sealer = sealer
        self._sessions = itertools.count(1)
        self._idle: list[Session] = []  # sessions of calls that ended, for the next calls
        self._stateless: tuple[int, bool] = (-1, False)  # (Backend.generation, any 2026 server)

    def route(self, msg: JsonObject) -> Claims | None:
        """The claims of a call this path serves (a retry of one, or a fresh call whose target
        lives on a 2026 server); None for a call the park bridge serves."""
        params: JsonObject = msg["params"]
        state = params.get("requestState")
        if state is not None:
            claims = self.sealer.open(state)
            return claims if claims.server else None  # a parked bridge call's has none
        if not self.serves_any():
            return None
        server = self._owner(msg["method"], params).server
        backend = self._shared.get(server)
        return Claims(server=server) if backend is not None and backend.stateless else None

    def _session(self) -> Session:
        return Session(id=f"direct-{next(self._sessions)}", protocol_version=LATEST_STATELESS)

    def serves_any(self) -> bool:
        """Whether any shared server speaks 2026 (only then may a fresh call be this path's)."""
        if self._stateless[0] != Backend.generation:  # a backend changed: its era may have
            shared = self._shared.values()
            self._stateless = (Backend.generation, any(backend.stateless for backend in shared))
        return self._stateless[1]

    async def serve(
        self, msg: JsonObject, envelope: Envelope, target: str, reply: Reply, claims: Claims
    ) -> bytes:
        method: str = msg["method"]
        params: JsonObject = msg["params"]
        server = claims.server
        arguments = params.get("arguments")
        if "requestState" in params:
            owner = self._owner(method, params).server
            if not claims.binds(method, target, digest(arguments)) or owner != server:
                raise invalid_state()
            inner = claims.inner
            if inner is None:
                del params["requestState"]
            else:
                params["requestState"] = inner
        idle = self._idle
        session = idle.pop() if idle else self._session()
        session.client_capabilities = envelope.capabilities
        session.log_level = envelope.log_level
        answer = await self._handle(session, msg, reply)  # it answers errors too
        # The session serves a later call (its exchange closed with this one); one whose call
        # was cancelled is dropped.
        if len(idle) < MAX_IDLE_SESSIONS:
            idle.append(session)
        assert answer is not None
        return self._sealed(answer, server, (method, target, arguments))

    async def fresh(self, msg: JsonObject, envelope: Envelope, entry: Entry, reply: Reply) -> bytes:
        """:meth:`serve` for a fresh ``tools/call`` (no ``requestState``) of a tool on a 2026
        server, ``entry`` the catalog's for it: no claims to check, no dispatch (errors are
        raised, for the caller to frame with the call's id)."""
        assert self._call is not None  # only StatelessService.fresh_call comes here, with it
        idle = self._idle
        session = idle.pop() if idle else self._session()
        session.client_capabilities = envelope.capabilities
        session.log_level = envelope.log_level
        params: JsonObject = msg["params"]
        answer = await self._call(session, msg, reply, entry)
        if len(idle) < MAX_IDLE_SESSIONS:  # as in serve: a call that raised drops its session
            idle.append(session)
        bound = ("tools/call", params["name"], params.get("arguments"))
        return self._sealed(answer, entry.server, bound)

    def _sealed(self, answer: bytes, server: str, bound: tuple[str, str, object]) -> bytes:
        """``answer`` with an ``input_required`` result's state sealed inside ours (the
        arguments' digest is taken only then: most calls never ask)."""
        if answer.find(b'"input_required"') == -1:  # not ``in``: see front/http11.py
            return answer
        decoded: Any = orjson.loads(answer)
        result = decoded.get("result")
        if not isinstance(result, dict) or result.get("resultType") != "input_required":
            return answer
        method, target, arguments = bound
        inner = result.get("requestState")
        claims = Claims(method, target, digest(arguments), server=server, inner=inner)
        result["requestState"] = self.sealer.seal(claims)
        return orjson.dumps(decoded)
