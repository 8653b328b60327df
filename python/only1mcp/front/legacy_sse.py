"""The HTTP+SSE front of MCP 2024-11-05, for clients that predate Streamable HTTP.

``GET /sse`` opens a session and its stream; the first event is ``endpoint``, whose data is the
URL to POST messages to (``/messages?session_id=<id>``, relative: same origin). Each POST carries
one JSON-RPC message and is answered ``202 Accepted`` at once; everything for the client — the
responses, the messages that precede them, server→client requests, notifications — goes out as
``message`` events on the stream, in the order the session logged them. The stream ending (the
client went away) ends the session and whatever it owns: calls in flight, per-session backends.

The session is an ordinary :class:`~only1mcp.session.Session` in the gateway's store,
answered by the same :class:`~only1mcp.router.Router` as ``/mcp``; only the transport differs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from only1mcp.access.gate import Gate
from only1mcp.audit import AuditLog
from only1mcp.auth.principal import Principal, principal_of
from only1mcp.errors import InternalError, InvalidRequest, RpcError
from only1mcp.front.admission import admit
from only1mcp.front.drain import Drain
from only1mcp.front.origin import OriginPolicy
from only1mcp.front.wire import (
    SSE_HEADERS,
    HttpError,
    bound_session,
    follow,
    last_resort,
    read_body,
    respond,
    session_refused,
)
from only1mcp.gateway import Gateway
from only1mcp.protocol import jsonrpc
from only1mcp.protocol.revisions import BATCH_REVISIONS, HANDSHAKE_REVISIONS
from only1mcp.router import Router, initialize_without_id
from only1mcp.session import Session
from only1mcp.types import JsonObject, Receive, RequestId, Scope, Send

if TYPE_CHECKING:
    from only1mcp.cluster.sessions import SharedSessions

log = logging.getLogger("only1mcp.front.legacy_sse")

STREAM_PATHS = frozenset({"/sse", "/sse/"})
MESSAGE_PATHS = frozenset({"/messages", "/messages/"})
LEGACY_PATHS = STREAM_PATHS | MESSAGE_PATHS
# What a session speaks until its initialize says otherwise: the revision of this transport.
LEGACY_REVISION = HANDSHAKE_REVISIONS[0]
NOT_FOUND = InvalidRequest("Session not found; open a new one with GET /sse")


@dataclass(eq=False)
class _Connection:
    """One open ``GET /sse``: its session and the requests it has in flight."""

    session: Session
    calls: set[asyncio.Task[None]] = field(default_factory=set)
    answering: set[RequestId] = field(default_factory=set)
    # Of those, the ones the client cancelled: no answer is due (the spec says none is sent).
    cancelled: set[RequestId] = field(default_factory=set)

    async def push(self, frame: bytes) -> None:
        """What precedes a response goes the way of everything else: the session's stream."""
        self.session.events.push(frame)

    async def detach(self) -> None:
        """A backend paused its stream: nothing of ours to close, the rest comes later."""


class LegacySseEndpoint:
    def __init__(
        self,
        gateway: Gateway,
        router: Router,
        origins: OriginPolicy,
        audit: AuditLog,
        drain: Drain | None = None,
        gate: Gate | None = None,
        shared: SharedSessions | None = None,
    ) -> None:
        """``shared``: the cluster's sessions (None: no cluster); a message POSTed to another
        process for a stream held here comes through it."""
        self.shared = shared
        self.gateway = gateway
        self.router = router
        self.origins = origins
        self.audit = audit
        self.drain = drain or Drain(gateway.config.front.shutdown_grace)
        self.gate = gate  # None: authentication is off (and no audit), nothing to check
        self._streams: dict[str, _Connection] = {}  # by session id

    def calls(self) -> Iterator[asyncio.Task[None]]:
        """The calls in flight on every stream (a shutdown waits for them, then ends them)."""
        for stream in self._streams.values():
            yield from stream.calls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"])
        try:
            if not self.origins.allows(headers.get(b"origin"), headers.get(b"host")):
                raise HttpError(403, InvalidRequest("Forbidden: Origin or Host not allowed"))
            if scope["path"] in STREAM_PATHS:
                if scope["method"] != "GET":
                    await respond(send, 405, b"", [(b"allow", b"GET")])
                    return
                await self._stream(scope, receive, send)
            elif scope["method"] != "POST":
                await respond(send, 405, b"", [(b"allow", b"POST")])
            else:
                await self._post(scope, receive, send)
        except HttpError as exc:
            await exc.respond(send)
        except Exception as exc:  # a bug: never a 500 or a traceback on the wire
            await last_resort(send, exc)

    # ------------------------------------------------------------------ GET /sse

    async def _stream(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            session = self.gateway.sessions.open(principal_of(scope))
        except RpcError as exc:
            raise session_refused(exc, None) from exc
        session.protocol_version = LEGACY_REVISION
        session.hold()  # lives as long as its stream: never idle, ends with it
        stream = self._streams[session.id] = _Connection(session)
        # Relative, so the client posts to the origin it is connected to (behind a mount too).
        root = str(scope.get("root_path", "")).rstrip("/")
        endpoint = f"event: endpoint\ndata: {root}/messages?session_id={session.id}\n\n"
        try:
            async with self._shared_stream(stream, scope):
                await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
                await send(
                    {"type": "http.response.body", "body": endpoint.encode(), "more_body": True}
                )
                # At shutdown it ends after its calls answered: their session ends then.
                with self.drain.stream():
                    async for chunk in follow(session, receive, 0):
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
            with contextlib.suppress(OSError):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            self._end(stream)

    @contextlib.asynccontextmanager
    async def _shared_stream(self, stream: _Connection, scope: Scope) -> AsyncIterator[None]:
        """In a cluster: the session recorded, and what its client POSTs to the other
        processes handled here (as if POSTed here: the same principal, checked there)."""
        if self.shared is None:
            yield
            return
        await self.shared.opened(stream.session)

        def posted(body: bytes) -> None:
            self._start(stream, self._forwarded(stream, body, scope))

        async with self.shared.streaming(stream.session, posted):
            yield

    async def _forwarded(self, stream: _Connection, body: bytes, scope: Scope) -> None:
        """A message POSTed to another process (checked there) for this stream."""
        try:
            payload = jsonrpc.parse(body)
            if isinstance(payload, list):
                self._check_batch(stream, payload)
                await self._batch(stream, payload, scope)
            else:
                await self._accept(stream, jsonrpc.check_message(payload), scope)
        except RpcError as exc:  # told on the stream: its POST was answered 202 already
            stream.session.events.push(jsonrpc.error(None, exc))

    def _end(self, stream: _Connection) -> None:
        """The client left (or the server is stopping): its calls and its session end."""
        self._streams.pop(stream.session.id, None)
        for call in stream.calls:
            call.cancel()
        self.gateway.sessions.remove(stream.session.id)
        if self.shared is not None:
            self.shared.ended_soon(stream.session)

    # ------------------------------------------------------------- POST /messages

    async def _post(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal = principal_of(scope)
        session_id, stream = self._find(scope, principal)
        body = await read_body(receive)
        if stream is None:
            await self._post_elsewhere(session_id, principal, body, send)
            return
        try:
            payload = jsonrpc.parse(body)
            if isinstance(payload, list):
                self._check_batch(stream, payload)
                self._start(stream, self._batch(stream, payload, scope))
            else:
                msg = jsonrpc.check_message(payload)
                await self._accept(stream, msg, scope)
        except RpcError as exc:
            raise HttpError(400, exc) from exc
        await respond(send, 202, b"", [])

    def _find(self, scope: Scope, principal: Principal) -> tuple[str, _Connection | None]:
        """The session id the POST names and its stream here (None: it may be elsewhere)."""
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        ids = query.get("session_id") or query.get("sessionId")
        if not ids:
            raise HttpError(400, InvalidRequest("Bad Request: session_id is required in the query"))
        stream = self._streams.get(ids[0])
        if stream is None and self.shared is not None:
            return ids[0], None
        if (
            stream is None
            or bound_session(self.gateway.sessions, ids[0], principal, self.audit) is None
        ):
            raise HttpError(404, NOT_FOUND)
        return ids[0], stream

    async def _post_elsewhere(
        self, session_id: str, principal: Principal, body: bytes, send: Send
    ) -> None:
        """A POST for a stream this process does not hold: checked here, then handed to the
        process that holds it (cluster)."""
        try:
            payload = jsonrpc.parse(body)
            if not isinstance(payload, list):
                jsonrpc.check_message(payload)
        except RpcError as exc:
            raise HttpError(400, exc) from exc
        if self.shared is None or not await self.shared.post_elsewhere(session_id, principal, body):
            raise HttpError(404, NOT_FOUND)
        await respond(send, 202, b"", [])

    async def _accept(self, stream: _Connection, msg: JsonObject, scope: Scope) -> None:
        """A request is answered later, on the stream; a notification or a response to one of
        our requests is handled before the 202, so the client's messages keep their order."""
        if "method" in msg and "id" in msg:
            self._start(stream, self._answer(stream, msg, scope))
            return
        if msg.get("method") == "initialize":
            raise initialize_without_id()  # the client gets it as the POST's answer: a 400
        if msg.get("method") == "notifications/cancelled":
            cancelled = (msg.get("params") or {}).get("requestId")
            if jsonrpc.is_valid_id(cancelled) and cancelled in stream.answering:
                stream.cancelled.add(cancelled)
        await self.router.handle(stream.session, msg, stream)

    def _start(self, stream: _Connection, work: Coroutine[Any, Any, None]) -> None:
        call = asyncio.ensure_future(work)
        stream.calls.add(call)
        call.add_done_callback(stream.calls.discard)

    async def _answer(self, stream: _Connection, msg: JsonObject, scope: Scope) -> None:
        req_id = msg["id"]
        stream.answering.add(req_id)
        try:
            answer = await self._handle(stream, msg, scope)
        finally:
            stream.answering.discard(req_id)
        if req_id in stream.cancelled:
            stream.cancelled.discard(req_id)
        elif answer is not None:
            stream.session.events.push(answer)

    def _handle(
        self, stream: _Connection, msg: JsonObject, scope: Scope
    ) -> Awaitable[bytes | None]:
        if self.gate is not None:
            return self._gated(self.gate, stream, msg, scope)
        return self._routed(stream, msg)

    async def _routed(self, stream: _Connection, msg: JsonObject) -> bytes | None:
        try:
            return await self.router.handle(stream.session, msg, stream)
        except Exception:
            # The client waits for an answer on the stream: a bug must not leave it hanging.
            log.exception("failed to answer %s", msg.get("method"))
            return jsonrpc.error(msg.get("id"), InternalError("Internal error"))
        except asyncio.CancelledError:
            if not self.drain.ending:
                raise
            return self.drain.error(msg.get("id")) if "id" in msg else None

    async def _gated(
        self, gate: Gate, stream: _Connection, msg: JsonObject, scope: Scope
    ) -> bytes | None:
        """:meth:`_handle` once authentication is on. A refusal is answered on the stream like
        any error: this transport answers every request there, and its clients take a POST
        that fails for a broken connection (the official SDK's stops sending)."""
        session = stream.session
        try:
            ticket = admit(gate, msg, scope, session.id)
        except HttpError as exc:
            return jsonrpc.error(msg.get("id"), exc.error)
        answer = await self._routed(stream, msg)
        if ticket is not None:
            gate.done(ticket, answer)
        return answer

    @staticmethod
    def _check_batch(stream: _Connection, batch: list[object]) -> None:
        version = stream.session.protocol_version
        if version not in BATCH_REVISIONS:
            raise InvalidRequest(f"Invalid Request: batches are not part of MCP {version}")
        if not batch:
            raise InvalidRequest("Invalid Request: empty batch")

    async def _batch(self, stream: _Connection, batch: list[object], scope: Scope) -> None:
        """A batch's answers go out together, as one array in one event."""
        frames = await self.drain.answer_batch(
            batch, lambda item: self._batch_item(stream, item, scope)
        )
        if frames:
            stream.session.events.push(b"[" + b",".join(frames) + b"]")

    async def _batch_item(self, stream: _Connection, item: object, scope: Scope) -> bytes | None:
        try:
            msg = jsonrpc.check_message(item)
        except RpcError as exc:
            return jsonrpc.error(None, exc)
        if msg.get("method") == "initialize":
            return jsonrpc.error(msg.get("id"), InvalidRequest("initialize cannot be batched"))
        return await self._handle(stream, msg, scope)
