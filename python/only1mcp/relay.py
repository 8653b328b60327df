"""The reverse path: what backends send that no client asked for by id.

Every client request forwarded to a backend is an :class:`Exchange`, kept by the session and
the client's id. Backend traffic is routed through it to the one client that caused it:

- ``notifications/progress``: we forward the client's ``progressToken`` replaced by the local
  id (unique per backend), so the token finds its exchange; the client's own token goes back.
- server→client requests (sampling, elicitation, roots): sent to the client with a fresh id of
  ours; the client's answer is matched back to the backend's id.
- ``notifications/message`` and the like: on the request's stream when it came on one (HTTP
  backends) or when the exchanges open on that backend all belong to one session (stdio; always
  so with ``isolation: session``), else to every session's GET stream. A pipe says nothing of
  which request caused a message, unless the server names it in ``_meta`` (the request's id as
  ``io.only1mcp/relatedRequestId``, or the progress token we forwarded). So a shared stdio
  server's sampling request is refused (with the fix in the error) when it names no request and
  calls of two sessions — every bridged 2026 call is one — are in flight on it;
  ``isolation: session`` makes it exact.
- a ``roots/list`` that no request caused (a server asks after initialize, or after we pass on
  a client's ``notifications/roots/list_changed``): to the client that owns the backend
  (``isolation: session``), else to the connected handshake-era clients that declared roots:
  one client's answer goes back as it is, several clients' roots are merged (by URI). A shared
  server serves every client, so it is told the roots of them all.
- ``notifications/resources/updated``: to the sessions subscribed to that resource only.
- a 2026 server's questions (its ``input_required`` results) put to a handshake-era client:
  :meth:`Relay.ask` sends each as a server→client request on the call's stream and waits for
  the client's answer (the reverse bridge, :mod:`only1mcp.bridge.reverse`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from only1mcp._core import rewrite_id
from only1mcp.backends import Backend
from only1mcp.catalog.naming import expose_uri
from only1mcp.errors import METHOD_NOT_FOUND, RpcError
from only1mcp.protocol import jsonrpc
from only1mcp.protocol.stateless import STATELESS_REVISIONS
from only1mcp.session import Session, SessionStore
from only1mcp.types import JsonObject, RequestId

log = logging.getLogger("only1mcp.relay")

# Where a server may name the request a message of its belongs to (the id it is serving), so
# that it can be attributed on a channel several callers share.
RELATED_REQUEST = "io.only1mcp/relatedRequestId"
# How long a client asked for its roots on a shared server's behalf may take: a client answers
# from what it holds (no human in the loop), and one gone without a goodbye must not hold the
# others' answer up for long.
ROOTS_TIMEOUT = 5.0
# Which client capability a server→client request needs.
CLIENT_CAPABILITY = {
    "sampling/createMessage": "sampling",
    "elicitation/create": "elicitation",
    "roots/list": "roots",
}


class Reply(Protocol):
    """A channel to the client for messages that precede a request's response."""

    async def push(self, frame: bytes) -> None: ...

    async def detach(self) -> None:
        """The backend paused this request's stream: close ours, keep the rest for a resume."""


@dataclass(eq=False, slots=True)
class Exchange:
    session: Session
    client_id: RequestId
    reply: Reply | None
    backend: Backend
    local_id: int
    progress_token: Any = None

    def cancel(self) -> None:
        """The client cancelled this request: stop waiting for the backend's answer."""
        self.backend.abandon(self.local_id)

    async def send_break(self) -> None:
        if self.reply is not None:
            await self.reply.detach()

    async def send(self, frame: bytes) -> None:
        if self.reply is not None:
            await self.reply.push(frame)
        else:
            self.session.events.push(frame)


class Relay:
    def __init__(
        self,
        sessions: SessionStore,
        prefixes: Mapping[str, str],
        owner_of: Callable[[Backend], str | None] = lambda backend: None,
    ) -> None:
        self.sessions = sessions
        self._prefixes = prefixes  # server → the prefix of its resource URIs as clients see them
        # Every open exchange, by the client's view of it (cancellation comes that way).
        self._by_client: dict[tuple[str, RequestId], Exchange] = {}
        # Those that asked for progress, by the backend's view: the local id is the token we
        # forwarded. Keyed by the backend object: per-session instances share a name.
        self._by_token: dict[tuple[Backend, int], Exchange] = {}
        # (session id, id we gave the client) → (backend, the backend's own request id), or the
        # future that waits for the answer to a question of ours (ask())
        self._asked: dict[
            tuple[str, RequestId], tuple[Backend, RequestId] | asyncio.Future[JsonObject]
        ] = {}
        self._subscribers: dict[str, set[str]] = {}
        self._ids = itertools.count(1)
        # The session a backend belongs to (an `isolation: session` instance), None if shared.
        self.owner_of = owner_of

    # ----------------------------------------------------------------- exchanges

    def open(
        self,
        session: Session,
        client_id: RequestId,
        reply: Reply | None,
        backend: Backend,
        local_id: int,
        progress_token: Any,
    ) -> Exchange:
        exchange = Exchange(session, client_id, reply, backend, local_id, progress_token)
        self._by_client[(session.id, client_id)] = exchange
        if progress_token is not None:  # one table per call, two only for the few with progress
            self._by_token[(backend, local_id)] = exchange
        return exchange

    def close(self, exchange: Exchange) -> None:
        self._by_client.pop((exchange.session.id, exchange.client_id), None)
        if exchange.progress_token is not None:
            self._by_token.pop((exchange.backend, exchange.local_id), None)

    def find(self, session: Session, client_id: object) -> Exchange | None:
        if not jsonrpc.is_valid_id(client_id):
            return None
        return self._by_client.get((session.id, client_id))  # type: ignore[arg-type]

    def _attribute(self, backend: Backend, msg: JsonObject) -> Exchange | None:
        """The exchange to credit with traffic a backend sent without saying which request
        caused it: the one its ``_meta`` names (:func:`related_request`), else the only one
        open on that backend, or any when all of them belong to one session (always so for an
        ``isolation: session`` instance). None when ambiguous."""
        named = related_request(msg)
        found = None
        for exchange in self._by_client.values():
            if exchange.backend is backend:
                if named is not None:
                    if exchange.local_id == named:
                        return exchange
                    continue
                if found is not None and found.session is not exchange.session:
                    return None
                found = found or exchange
        return None if named is not None else found

    # -------------------------------------------------------------- subscriptions

    def subscribe(self, session: Session, uri: str) -> None:
        self._subscribers.setdefault(uri, set()).add(session.id)

    def unsubscribe(self, session: Session, uri: str) -> bool:
        """Drop one subscriber; True when nobody is left subscribed to ``uri``."""
        subscribers = self._subscribers.get(uri, set())
        subscribers.discard(session.id)
        if subscribers:
            return False
        self._subscribers.pop(uri, None)
        return True

    # ---------------------------------------------------------------- reverse path

    async def from_backend(
        self, backend: Backend, frame: bytes, exchange: Exchange | None = None
    ) -> None:
        """Route one message a backend started (notification or request) to its client."""
        msg: JsonObject = orjson.loads(frame)
        method = msg.get("method")
        if not isinstance(method, str):
            return
        if "id" in msg:
            await self._backend_request(backend, msg, frame, exchange)
        elif method == "notifications/progress":
            await self._progress(backend, msg)
        elif method == "notifications/resources/updated":
            self._resource_updated(backend, msg)
        elif method == "notifications/cancelled":
            self._backend_cancelled(backend, msg)
        else:
            target = exchange or self._attribute(backend, msg)
            if target is not None:
                await target.send(frame)
            else:
                self.sessions.broadcast(frame)

    async def _progress(self, backend: Backend, msg: JsonObject) -> None:
        params = msg.get("params") or {}
        token = params.get("progressToken")
        if not isinstance(token, int):
            return  # not one of our local ids
        exchange = self._by_token.get((backend, token))
        if exchange is None or exchange.progress_token is None:
            return  # progress for a request that is already answered: drop it
        backend.progressed(token)  # restarts the call's timeout where that is configured
        params["progressToken"] = exchange.progress_token
        await exchange.send(orjson.dumps(msg))

    def _resource_updated(self, backend: Backend, msg: JsonObject) -> None:
        prefix = self._prefixes.get(backend.name)
        if prefix is None:
            return  # a server a reload removed, still answering its last calls
        params = msg.get("params") or {}
        uri = expose_uri(prefix, str(params.get("uri", "")))
        params["uri"] = uri
        frame = orjson.dumps(msg)
        for session_id in self._subscribers.get(uri, ()):
            session = self.sessions.get(session_id)
            if session is not None:
                session.events.push(frame)

    def _backend_cancelled(self, backend: Backend, msg: JsonObject) -> None:
        """A backend gave up on a request it sent us: tell the client that got it, by our id."""
        params = msg.get("params") or {}
        for (session_id, our_id), asked in list(self._asked.items()):
            if asked == (backend, params.get("requestId")):
                del self._asked[(session_id, our_id)]
                session = self.sessions.get(session_id)
                if session is not None:
                    params["requestId"] = our_id
                    session.events.push(orjson.dumps(msg))
                return

    async def _backend_request(
        self, backend: Backend, msg: JsonObject, frame: bytes, exchange: Exchange | None
    ) -> None:
        method: str = msg["method"]
        if method == "ping":
            await backend.notify(jsonrpc.result(msg["id"], {}))
            return
        target = exchange or self._attribute(backend, msg)
        if target is None and method == "roots/list":
            await self._roots(backend, msg, frame)
            return
        why = _unroutable(method, target, backend)
        if why or target is None:
            if target is None:
                log.warning("server %r: %s cannot be relayed: %s", backend.name, method, why)
            err = RpcError(f"{method} cannot be relayed: {why}", code=METHOD_NOT_FOUND)
            await backend.notify(jsonrpc.error(msg["id"], err))
            return
        our_id = f"only1mcp-{next(self._ids)}"
        self._asked[(target.session.id, our_id)] = (backend, msg["id"])
        if frame.find(RELATED_REQUEST.encode()) != -1:
            frame = orjson.dumps(_without_related(msg))
        await target.send(rewrite_id(frame, our_id))

    def roots_holders(self, backend: Backend | None = None) -> list[Session]:
        """The sessions whose roots ``backend`` serves (every one for a shared backend): the
        initialized handshake-era ones that declared the ``roots`` capability."""
        owner = self.owner_of(backend) if backend is not None else None
        sessions = [self.sessions.get(owner)] if owner is not None else list(self.sessions)
        return [
            s
            for s in sessions
            if s is not None
            and s.initialized
            and "roots" in s.client_capabilities
            and s.protocol_version not in STATELESS_REVISIONS
        ]

    async def _roots(self, backend: Backend, msg: JsonObject, frame: bytes) -> None:
        """A ``roots/list`` no request caused: asked of the clients whose roots it serves."""
        holders = self.roots_holders(backend)
        if len(holders) == 1:
            our_id = f"only1mcp-{next(self._ids)}"
            self._asked[(holders[0].id, our_id)] = (backend, msg["id"])
            holders[0].events.push(rewrite_id(frame, our_id))
            return
        if not holders:
            why = "no connected client declared the 'roots' capability"
            err = RpcError(f"roots/list cannot be relayed: {why}", code=METHOD_NOT_FOUND)
            await backend.notify(jsonrpc.error(msg["id"], err))
            return
        params = msg.get("params")
        timeout = min(backend.timeout, ROOTS_TIMEOUT)
        asked = [self._ask_session(s, "roots/list", params, timeout) for s in holders]
        roots: dict[str, Any] = {}
        for answer in await asyncio.gather(*asked):
            found = answer.get("roots") if isinstance(answer, dict) else None
            for root in found if isinstance(found, list) else ():
                if isinstance(root, dict) and isinstance(root.get("uri"), str):
                    roots.setdefault(root["uri"], root)
        await backend.notify(jsonrpc.result(msg["id"], {"roots": list(roots.values())}))

    async def _ask_session(
        self, session: Session, method: str, params: object, timeout: float
    ) -> object:
        """Ask ``session``'s client ``method`` on its own stream; its result (None when it
        answered an error or not within ``timeout`` seconds)."""
        our_id = f"only1mcp-{next(self._ids)}"
        key = (session.id, our_id)
        answer: asyncio.Future[JsonObject] = asyncio.get_running_loop().create_future()
        self._asked[key] = answer
        try:
            session.events.push(
                jsonrpc.request(our_id, method, params if isinstance(params, dict) else None)
            )
            return (await asyncio.wait_for(answer, timeout)).get("result")
        except TimeoutError:
            return None
        finally:
            self._asked.pop(key, None)

    async def ask(self, exchange: Exchange, method: str, params: JsonObject) -> JsonObject:
        """Send ``exchange``'s client a server→client request and return its answer message
        (a JSON-RPC response: ``result`` or ``error``); refused like a backend's own request
        when the client did not declare the capability it needs."""
        why = _unroutable(method, exchange, exchange.backend)
        if why:
            raise RpcError(f"{method} cannot be relayed: {why}", code=METHOD_NOT_FOUND)
        our_id = f"only1mcp-{next(self._ids)}"
        key = (exchange.session.id, our_id)
        answer: asyncio.Future[JsonObject] = asyncio.get_running_loop().create_future()
        self._asked[key] = answer
        try:
            await exchange.send(jsonrpc.request(our_id, method, params))
            return await answer
        finally:
            self._asked.pop(key, None)

    async def from_client(self, session: Session, msg: JsonObject) -> None:
        """A client's answer to a server→client request we relayed: back to its backend."""
        asked = self._asked.pop((session.id, msg.get("id")), None)  # type: ignore[arg-type]
        if asked is None:
            log.debug("dropped a response to an unknown request id %r", msg.get("id"))
            return
        if isinstance(asked, asyncio.Future):
            if not asked.done():
                asked.set_result(msg)
            return
        backend, backend_id = asked
        with contextlib.suppress(RpcError):
            await backend.notify(rewrite_id(orjson.dumps(msg), backend_id))


def related_request(msg: JsonObject) -> int | None:
    """The backend-local id of the request a server's message names as its cause, in
    ``_meta["io.only1mcp/relatedRequestId"]`` (the id of the request it is serving) or as the
    ``progressToken`` we forwarded with it (that is the same local id); None when it names none.
    """
    params = msg.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    if not isinstance(meta, dict):
        return None
    for key in (RELATED_REQUEST, "progressToken"):
        value = meta.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.isdigit():  # our ids are integers; some SDKs
            return int(value)  # hand a server the id it serves as a string
    return None


def _without_related(msg: JsonObject) -> JsonObject:
    """``msg`` without our attribution hint: it was for us, not for the client."""
    meta = msg["params"]["_meta"]
    meta.pop(RELATED_REQUEST, None)
    if not meta:
        del msg["params"]["_meta"]
    return msg


def _unroutable(method: str, target: Exchange | None, backend: Backend) -> str:
    """Why a backend's request cannot go to a client ("" when it can)."""
    needed = CLIENT_CAPABILITY.get(method)
    if needed is None:
        return "not a request a server may send a client"
    if target is None:
        return (
            f"no single client request in flight on server {backend.name!r} caused it (calls "
            "of several clients share its channel, which does not say which one asked). Set "
            f"`isolation: session` (or `call`, for 2026 callers) for {backend.name!r} in the "
            "Only1MCP config, or have the "
            f'server name the request it serves in _meta["{RELATED_REQUEST}"]'
        )
    if needed not in target.session.client_capabilities:
        return f"the client did not declare the {needed!r} capability"
    return ""
