"""Streamable HTTP front at ``/mcp`` (MCP 2025-03-26 … 2025-11-25), as a plain ASGI app.

POST carries one JSON-RPC message: a request is answered with ``application/json``; a
notification or response with 202. GET opens the session's stream of unsolicited messages;
DELETE ends the session. ``/mcp`` is served by this class directly — not through a router — so
the hot path pays for nothing it does not use; everything else goes to a small Starlette app.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Sequence
from typing import TYPE_CHECKING

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from only1mcp.access.gate import Gate
from only1mcp.audit import AuditLog
from only1mcp.auth.principal import HEADERS_KEY, Principal, principal_of
from only1mcp.errors import AccessDenied, InvalidRequest, RateLimited, RpcError
from only1mcp.front.admission import admit, refusal
from only1mcp.front.cors import Cors
from only1mcp.front.drain import ANSWER_WAIT, Drain
from only1mcp.front.legacy_sse import LEGACY_PATHS, LegacySseEndpoint
from only1mcp.front.origin import OriginPolicy
from only1mcp.front.request_limits import guarded_protocol
from only1mcp.front.server import Companion, DrainingServer
from only1mcp.front.stateless import StatelessEndpoint
from only1mcp.front.wire import (
    JSON_HEADERS,
    RETRY_MS,
    SSE_HEADERS,
    HttpError,
    answer_or_end,
    bound_session,
    follow,
    last_resort,
    read_body,
    respond,
    session_refused,
    sse_message,
)
from only1mcp.gateway import Gateway
from only1mcp.protocol import jsonrpc
from only1mcp.protocol.revisions import BATCH_REVISIONS, HANDSHAKE_HEADER_VALUES
from only1mcp.protocol.stateless import is_stateless
from only1mcp.router import Router, initialize_without_id
from only1mcp.session import KEEPALIVE, PausedStream, Session
from only1mcp.stateless import StatelessService
from only1mcp.telemetry.context import begin_request
from only1mcp.telemetry.observer import Observer
from only1mcp.types import ASGIApp, JsonObject, Receive, RequestId, Scope, Send

if TYPE_CHECKING:
    from only1mcp.cluster.sessions import SharedSessions

log = logging.getLogger("only1mcp.front.http")

MCP_PATHS = frozenset({"/mcp", "/mcp/"})


class McpEndpoint:
    def __init__(
        self,
        gateway: Gateway,
        router: Router,
        stateless: StatelessService,
        origins: OriginPolicy,
        audit: AuditLog,
        drain: Drain | None = None,
        gate: Gate | None = None,
        observer: Observer | None = None,
        shared: SharedSessions | None = None,
    ) -> None:
        self.gateway = gateway
        self.router = router
        self.origins = origins
        self.audit = audit
        # The cluster's sessions (None: this process alone): a session another process began
        # is re-homed here rather than answered 404.
        self.shared = shared
        self.drain = drain or Drain(gateway.config.front.shutdown_grace)
        self.gate = gate  # None: authentication is off (and no audit), nothing to check
        self.stateless = StatelessEndpoint(stateless, self.drain, gate, observer)
        self.observer = observer

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine: a 2026 request goes on to the stateless endpoint's, a frame less.
        headers = _headers(scope)
        # A request inside a handshake session stays there, whatever version it names.
        if (
            is_stateless(headers.get(b"mcp-protocol-version"))
            and b"mcp-session-id" not in headers
            and self.origins.allows(headers.get(b"origin"), headers.get(b"host"))
        ):
            return self.stateless.serve(scope, receive, send, headers)
        return self._handshake(scope, headers, receive, send)

    async def _handshake(
        self, scope: Scope, headers: dict[bytes, bytes], receive: Receive, send: Send
    ) -> None:
        try:
            self._check_origin(headers)
            method = scope["method"]
            principal = principal_of(scope)
            if method == "POST":
                await self._post(scope, headers, principal, receive, send)
            elif method == "GET":
                await self._get(headers, principal, receive, send)
            elif method == "DELETE":
                await self._delete(headers, principal, send)
            else:
                await respond(send, 405, b"", [(b"allow", b"GET, POST, DELETE")])
        except HttpError as exc:
            await exc.respond(send)
        except Exception as exc:  # a bug: never a 500 or a traceback on the wire
            await last_resort(send, exc)
        except asyncio.CancelledError:
            if not self.drain.ending:
                raise
            await answer_or_end(send, self.drain.error(None))  # cut before its call began

    def _check_origin(self, headers: dict[bytes, bytes]) -> None:
        if not self.origins.allows(headers.get(b"origin"), headers.get(b"host")):
            raise HttpError(403, InvalidRequest("Forbidden: Origin or Host not allowed"))

    async def _post(
        self,
        scope: Scope,
        headers: dict[bytes, bytes],
        principal: Principal,
        receive: Receive,
        send: Send,
    ) -> None:
        body = await read_body(receive)
        try:
            payload = jsonrpc.parse(body)
            if isinstance(payload, list):
                await self._batch(scope, payload, headers, principal, send)
                return
            msg = jsonrpc.check_message(payload)
        except RpcError as exc:
            raise HttpError(400, exc) from exc
        begin_request()
        if msg.get("method") == "initialize":
            await self._initialize(msg, headers, principal, send)
            return
        session = self._session(headers, principal) or await self._adopted(headers, principal)
        gate = self.gate
        ticket = None
        if gate is not None:
            try:  # admission.admit, in place: two frames less per call
                ticket = gate.admit(principal, msg, scope.get("client"), session.id)
            except (AccessDenied, RateLimited) as exc:
                raise self._refused(gate, exc, msg, session) from None
        reply = StreamingReply(send, _prefers_sse(headers), session)
        session.hold()  # a call in flight: the session is not idle, whatever its age
        observer = self.observer
        # Measured in place (not through Observer.observed): a frame less on the hot path.
        begun = None if observer is None or "id" not in msg else observer.begin(msg, headers)
        answer = None
        try:
            answer = await self.router.handle(session, msg, reply)
        except asyncio.CancelledError:
            if not self.drain.ending:
                raise
            answer = self.drain.error(msg.get("id")) if "id" in msg else None
        finally:
            session.release()
            if begun is not None and observer is not None:
                observer.end(begun, msg, answer, session.protocol_version)
        if ticket is not None and gate is not None:
            gate.done(ticket, answer)
        if self.shared is not None:
            self.shared.used(session, msg)
        if answer is None:
            await respond(send, 202, b"", [])
        else:
            await reply.finish(answer)

    def _refused(
        self, gate: Gate, exc: AccessDenied | RateLimited, msg: JsonObject, session: Session
    ) -> HttpError:
        """The answer to a call the gate refused, the refusal counted (it never reaches the
        router)."""
        error = refusal(gate, exc, msg)
        if self.observer is not None and "method" in msg:
            self.observer.refused(msg, error.error, session.protocol_version)
        return error

    async def _batch(
        self,
        scope: Scope,
        batch: list[object],
        headers: dict[bytes, bytes],
        principal: Principal,
        send: Send,
    ) -> None:
        """JSON-RPC batches exist only in 2025-03-26; later revisions removed them."""
        session = self._session(headers, principal) or await self._adopted(headers, principal)
        if session.protocol_version not in BATCH_REVISIONS:
            raise InvalidRequest(
                f"Invalid Request: batches are not part of MCP {session.protocol_version}"
            )
        if not batch:
            raise InvalidRequest("Invalid Request: empty batch")
        frames = await self.drain.answer_batch(
            batch, lambda item: self._batch_item(scope, session, item)
        )
        if frames:
            await respond(send, 200, b"[" + b",".join(frames) + b"]", JSON_HEADERS)
        else:
            await respond(send, 202, b"", [])

    async def _batch_item(self, scope: Scope, session: Session, item: object) -> bytes | None:
        try:
            msg = jsonrpc.check_message(item)
        except RpcError as exc:
            return jsonrpc.error(None, exc)
        if msg.get("method") == "initialize":
            return jsonrpc.error(msg.get("id"), InvalidRequest("initialize cannot be batched"))
        if self.gate is None:
            return await self.router.handle(session, msg)
        try:  # a batch answers with one status: a refusal is its item's error
            ticket = admit(self.gate, msg, scope, session.id)
        except HttpError as exc:
            return jsonrpc.error(msg.get("id"), exc.error)
        answer = await self.router.handle(session, msg)
        if ticket is not None:
            self.gate.done(ticket, answer)
        return answer

    async def _initialize(
        self,
        msg: dict[str, object],
        headers: dict[bytes, bytes],
        principal: Principal,
        send: Send,
    ) -> None:
        if "id" not in msg:
            raise HttpError(400, initialize_without_id())
        req_id: RequestId = msg["id"]  # type: ignore[assignment]
        try:
            session = self.gateway.sessions.open(principal)
        except RpcError as exc:
            raise session_refused(exc, req_id) from exc
        for name in self.gateway.hash_headers:
            if (value := headers.get(name.encode())) is not None:
                session.hash_headers[name] = value.decode("latin-1")
        session.hold()
        try:
            answering = self.router.handle(session, msg)
            if self.observer is not None:
                answering = self.observer.observed(
                    msg, answering, lambda: session.protocol_version, headers
                )
            answer = await answering
        finally:
            session.release()
        if self.shared is not None:  # shared before the client can name it anywhere else
            await self.shared.opened(session)
        extra = [(b"mcp-session-id", session.id.encode())]
        await respond(send, 200, answer or b"", JSON_HEADERS + extra)

    def _session(self, headers: dict[bytes, bytes], principal: Principal) -> Session | None:
        """The session the request names, None when this process does not know it (then
        :meth:`_adopted` finds it in the cluster, or answers 404)."""
        sid = headers.get(b"mcp-session-id")
        if sid is None:
            raise HttpError(400, InvalidRequest("Bad Request: Mcp-Session-Id header is required"))
        version = headers.get(b"mcp-protocol-version")
        if version is not None and version not in HANDSHAKE_HEADER_VALUES:
            raise HttpError(
                400, InvalidRequest(f"Unsupported MCP-Protocol-Version: {version.decode()!r}")
            )
        return bound_session(self.gateway.sessions, sid.decode("latin-1"), principal, self.audit)

    async def _adopted(self, headers: dict[bytes, bytes], principal: Principal) -> Session:
        """A session unknown here: re-homed from the cluster when it is alive there."""
        sid = headers[b"mcp-session-id"].decode("latin-1")
        session = None
        # One this process knows but another principal opened was refused (and audited).
        if self.shared is not None and self.gateway.sessions.get(sid) is None:
            session = await self.shared.adopt(sid, principal)
        if session is None:
            raise HttpError(404, InvalidRequest("Session not found; initialize again"))
        return self.gateway.sessions.use(sid) or session

    async def _get(
        self, headers: dict[bytes, bytes], principal: Principal, receive: Receive, send: Send
    ) -> None:
        if b"text/event-stream" not in headers.get(b"accept", b""):
            await respond(send, 405, b"", [(b"allow", b"POST, DELETE")])
            return
        session = self._session(headers, principal) or await self._adopted(headers, principal)
        stream, after = _resume_point(headers)
        paused = session.paused.get(stream) if stream is not None else None
        events = (
            _sse_events(session, receive, after)
            if paused is None
            else _resumed(session, stream or 0, paused, after or 0)
        )
        session.hold()  # an open stream: the session is not idle while it lasts
        try:
            # Its messages come here before the client knows the stream is open.
            async with self._streaming(session):
                await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
                with self.drain.stream():
                    async for chunk in events:
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
        finally:
            session.release()
        with contextlib.suppress(OSError):
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    def _streaming(self, session: Session) -> contextlib.AbstractAsyncContextManager[None]:
        """While a GET stream is open here, the session's messages come here (cluster)."""
        if self.shared is None:
            return contextlib.nullcontext()
        return self.shared.streaming(session)

    async def _delete(self, headers: dict[bytes, bytes], principal: Principal, send: Send) -> None:
        session = self._session(headers, principal) or await self._adopted(headers, principal)
        self.gateway.sessions.remove(session.id)
        if self.shared is not None:
            await self.shared.ended(session)
        await respond(send, 200, b"", [])


class StreamingReply:
    """One POST's answer: plain JSON, unless the client prefers SSE or something must reach it
    before the response.

    The response headers wait for the first message: when the response itself comes first it
    goes out as ``application/json`` (cheap); when a notification or a server→client request
    comes first — or the client's Accept lists ``text/event-stream`` first — the answer becomes
    an SSE stream that opens with a priming event (an id and ``retry``, no data) and ends with
    the response.
    """

    __slots__ = ("_events", "_lock", "_paused", "_prefer_sse", "_send", "_session", "_stream")

    def __init__(self, send: Send, prefer_sse: bool, session: Session) -> None:
        self._send = send
        self._session = session
        self._paused: PausedStream | None = None
        self._prefer_sse = prefer_sse
        self._stream = 0  # numbered when it starts streaming (0: plain JSON so far)
        self._events = 0
        self._lock: asyncio.Lock | None = None  # only a reply that streams needs one

    async def push(self, frame: bytes) -> None:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            await self.sse_message(frame, more=True)

    def finish(self, frame: bytes) -> Awaitable[None]:
        # Not a coroutine (nor is _finish): the common answer, plain JSON, is respond()'s
        # awaitable itself, two frames less per call.
        if self._lock is None:
            return self._finish(frame)
        return self._finish_after_pushes(self._lock, frame)

    async def _finish_after_pushes(self, lock: asyncio.Lock, frame: bytes) -> None:
        async with lock:
            await self._finish(frame)

    async def detach(self) -> None:
        """End this HTTP response now; later events wait for a GET with Last-Event-ID."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._paused is not None:
                return
            if not self._stream:
                await self._start()
            await self._send({"type": "http.response.body", "body": b"", "more_body": False})
            self._paused = self._session.paused[self._stream] = PausedStream()

    def _finish(self, frame: bytes) -> Awaitable[None]:
        if self._stream or self._prefer_sse:
            return self.sse_message(frame, more=False)
        return respond(self._send, 200, frame, JSON_HEADERS)

    async def _start(self) -> None:
        self._stream = next(_stream_ids)
        await self._send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
        priming = f"id: {self._stream}-0\nretry: {RETRY_MS}\ndata: \n\n".encode()
        await self._send({"type": "http.response.body", "body": priming, "more_body": True})

    async def sse_message(self, frame: bytes, more: bool) -> None:
        self._events += 1
        if self._paused is not None:
            self._paused.add(self._events, frame, last=not more)
            return
        if not self._stream:
            await self._start()
        body = f"id: {self._stream}-{self._events}\n".encode() + sse_message(frame)
        await self._send({"type": "http.response.body", "body": body, "more_body": more})


_stream_ids = itertools.count(1)


def _prefers_sse(headers: dict[bytes, bytes]) -> bool:
    """Whether the client's Accept header names text/event-stream before application/json."""
    return headers.get(b"accept", b"").lstrip().startswith(b"text/event-stream")


async def _sse_events(
    session: Session, receive: Receive, after: int | None
) -> AsyncIterator[bytes]:
    """The session's unsolicited messages as SSE, until the client leaves or the session ends.

    Starts with a priming event (an id, no data) so a client can resume with Last-Event-ID;
    without one it gets what no stream has delivered yet.
    """
    cursor = session.events.delivered if after is None else after
    yield f"id: {cursor}\nretry: {RETRY_MS}\ndata: \n\n".encode()
    async for chunk in follow(session, receive, cursor):
        yield chunk


def _headers(scope: Scope) -> dict[bytes, bytes]:
    found: dict[bytes, bytes] | None = scope.get(HEADERS_KEY)  # the auth middleware's
    return dict(scope["headers"]) if found is None else found


def _resume_point(headers: dict[bytes, bytes]) -> tuple[int | None, int | None]:
    """(POST stream, event) or (None, GET-stream event) from Last-Event-ID; ids not of ours
    are ignored (the stream starts from what is undelivered)."""
    raw = headers.get(b"last-event-id", b"").decode("latin-1")
    stream, dash, number = raw.partition("-")
    if dash and stream.isdigit() and number.isdigit():
        return int(stream), int(number)
    return None, int(raw) if raw.isdigit() else None


async def _resumed(
    session: Session, stream: int, paused: PausedStream, after: int
) -> AsyncIterator[bytes]:
    """Replay a paused POST stream after event ``after``, then follow it to its response."""
    while True:
        paused.changed.clear()
        for number, frame in paused.events:
            if number > after:
                after = number
                yield f"id: {stream}-{number}\n".encode() + sse_message(frame)
        if paused.done:
            session.paused.pop(stream, None)
            return
        try:
            await asyncio.wait_for(paused.changed.wait(), KEEPALIVE)
        except TimeoutError:
            yield b": keepalive\n\n"


class HttpApp:
    """The ASGI application: ``/mcp`` straight to the endpoint, ``/sse`` and ``/messages`` to
    the legacy HTTP+SSE front, the rest to Starlette."""

    def __init__(
        self,
        gateway: Gateway,
        router: Router,
        stateless: StatelessService,
        origins: OriginPolicy,
        audit: AuditLog | None = None,
        gate: Gate | None = None,
        observer: Observer | None = None,
        metrics: ASGIApp | None = None,
        shared: SharedSessions | None = None,
    ) -> None:
        """``observer``: what each request is measured by; ``metrics``: the app serving
        ``/metrics`` here (None: not on this listener); ``shared``: the cluster's sessions
        (None: no cluster)."""
        self.gateway = gateway
        self.shared = shared
        self.audit = audit or AuditLog(gateway.config.audit)
        self.drain = Drain(gateway.config.front.shutdown_grace)
        self.mcp = McpEndpoint(
            gateway, router, stateless, origins, self.audit, self.drain, gate, observer, shared
        )
        self.legacy = LegacySseEndpoint(
            gateway, router, origins, self.audit, self.drain, gate, shared
        )
        self._draining: asyncio.Task[None] | None = None
        routes = [Route("/healthz", self._healthz)]
        if metrics is not None:
            routes.append(Route("/metrics", metrics))
        self.other = Starlette(routes=routes, lifespan=self._lifespan)
        cors = gateway.config.front.cors
        self.cors = Cors(cors) if cors is not None else None

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine itself: handing back the chosen app's awaitable saves a frame on
        # every request.
        if scope["type"] == "http" and self.cors is not None:
            return self.cors.serve(scope, receive, send, self._route)
        return self._route(scope, receive, send)

    def _route(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] == "http":
            if scope["path"] in MCP_PATHS:
                return self.mcp(scope, receive, send)
            if scope["path"] in LEGACY_PATHS:
                return self.legacy(scope, receive, send)
        return self.other(scope, receive, send)

    def closing(self, requests: set[asyncio.Task[None]]) -> None:
        """Shutdown has begun (uvicorn takes no new connection): every bridged call parked for
        its client's next round ends now (that client could not come back), the ``requests``
        in flight get the grace (see :mod:`only1mcp.front.drain`), then every session ends and
        its stream closes, so uvicorn has no task left to wait for."""
        self.mcp.stateless.service.close()
        if self._draining is None:
            self._draining = asyncio.ensure_future(self._drain(requests))

    async def _drain(self, requests: set[asyncio.Task[None]]) -> None:
        try:
            await self.drain.run(lambda: [*requests, *self.legacy.calls()])
        finally:
            self.gateway.sessions.close_all()

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        await self.gateway.start()
        if self.shared is not None:
            await self.shared.start()
        try:
            yield
        finally:
            self.mcp.stateless.service.close()
            if self.shared is not None:
                await self.shared.close()
            await self.gateway.stop()
            self.audit.close()

    async def _healthz(self, request: Request) -> JSONResponse:
        failures = self.gateway.failures()
        health = {
            "status": "ok" if self.gateway.ready.is_set() else "starting",
            "servers": {name: b.state.value for name, b in self.gateway.backends.items()},
            "failures": failures,
            "sessions": len(self.gateway.sessions),
            # Capability probes still running (started once ready): a second process per
            # handshake-era server until each is decided.
            "probing": self.gateway.variants.deciding,
        }
        if self.shared is not None:
            health["cluster"] = self.shared.health()
        return JSONResponse(health)


def serve_http(
    app: HttpApp,
    host: str,
    port: int,
    asgi: ASGIApp | None = None,
    companions: Sequence[Companion] = (),
    sockets: list[socket.socket] | None = None,
) -> None:
    """Run the HTTP front until SIGTERM/SIGINT; backends stop with it. ``asgi``: what the
    server calls, when the front sits behind middleware (authentication); ``companions``:
    servers run beside it in its event loop (the admin listener); ``sockets``: listening
    already (a worker's, see :mod:`only1mcp.workers`), else ``host:port`` is bound."""
    config = uvicorn.Config(
        app if asgi is None else asgi,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        interface="asgi3",  # HttpApp.__call__ returns an awaitable rather than being async
        # A sized response's head and body in one write; header and slow-client limits.
        http=guarded_protocol(app.gateway.config.front.request_timeout),
        # Ours ends every call first (HttpApp.closing); uvicorn's is a backstop.
        timeout_graceful_shutdown=int(app.drain.grace + ANSWER_WAIT + 3),
        # No X-Forwarded-* rewriting: nothing here uses the client's address.
        proxy_headers=False,
        server_header=False,  # says nothing a client needs, costs a header per response
        ws="none",  # MCP has no WebSocket transport: the websockets library stays unloaded
    )
    DrainingServer(config, app.closing, companions).run(sockets)
