"""stdio front: one client (a desktop app) speaking newline-delimited JSON-RPC on stdin/stdout.

Requests are handled concurrently and answered in completion order; stdout carries protocol
messages only (logs go to stderr). End of stdin (or SIGTERM) ends the session: calls in flight
get the shutdown grace, those left are answered "Only1MCP is shutting down" (see
:mod:`only1mcp.front.drain`), then the backends stop.
A request whose ``_meta`` names a 2026-era protocol version is served statelessly (a pipe has no
headers, so that is how the eras are told apart here); everything else is the handshake era.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from typing import Any

from only1mcp._core import FrameReader
from only1mcp.access.gate import Gate
from only1mcp.audit import AuditLog
from only1mcp.errors import AccessDenied, InvalidRequest, RateLimited, RpcError, unexpected
from only1mcp.front.drain import Drain
from only1mcp.gateway import Gateway
from only1mcp.protocol import jsonrpc
from only1mcp.protocol.stateless import error_frame_id, stateless_version
from only1mcp.router import Router
from only1mcp.session import Session
from only1mcp.stateless import StatelessService
from only1mcp.telemetry.context import begin_request
from only1mcp.telemetry.observer import Observer
from only1mcp.types import JsonObject, RequestId

log = logging.getLogger("only1mcp.front.stdio")


class _StdinProtocol(asyncio.Protocol):
    def __init__(self, on_frames: StdioFront) -> None:
        self.front = on_frames
        self.reader = FrameReader()

    def data_received(self, data: bytes) -> None:
        try:
            frames = self.reader.feed(data)
        except ValueError as exc:
            self.front.write(jsonrpc.error(None, InvalidRequest(f"Message too large: {exc}")))
            # The reader kept the complete frames that followed the oversized one.
            frames = self.reader.feed(b"")
        for frame in frames:
            self.front.on_frame(frame)

    def connection_lost(self, exc: Exception | None) -> None:
        self.front.closed.set()


class StdioFront:
    def __init__(
        self,
        gateway: Gateway,
        router: Router,
        stateless: StatelessService,
        audit: AuditLog | None = None,
        gate: Gate | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.gateway = gateway
        self.audit = audit or AuditLog(gateway.config.audit)
        self.observer = observer
        self.router = router
        self.stateless = stateless
        self.gate = gate  # None: authentication is off (and no audit), nothing to check
        self.session = Session(id="stdio")
        if gate is not None:  # a pipe has no credentials: its principal is configured
            self.session.principal = gate.stdio_principal
        self.closed = asyncio.Event()
        self.drain = Drain(gateway.config.front.shutdown_grace)
        self._out: asyncio.WriteTransport | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # Open listens by request id: each ends when stdin does or the client cancels it.
        self._listens: dict[RequestId, asyncio.Future[Any]] = {}

    async def push(self, frame: bytes) -> None:
        """Messages that precede a response need no special channel on a pipe."""
        self.write(frame)

    async def detach(self) -> None:
        """A pipe has no streams to pause; whatever follows simply comes later."""

    async def finish(self, status: int, frame: bytes) -> None:
        """A 2026 answer the bridge sends early (a pipe has no status)."""
        self.write(frame)

    def write(self, frame: bytes) -> None:
        if self._out is not None and not self._out.is_closing():
            self._out.write(frame + b"\n")

    def on_frame(self, frame: bytes) -> None:
        task = asyncio.ensure_future(self._answer(frame))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, frame: bytes) -> None:
        payload: object = None
        try:
            payload = jsonrpc.parse(frame)
            msg = jsonrpc.check_message(payload)
        except RpcError as exc:
            # The id, when usable, is all a client on a pipe has to match the answer by.
            self.write(jsonrpc.error(error_frame_id(payload), exc))
            return
        is_request = "id" in msg and "method" in msg
        if is_request and self.drain.stopping:
            # No new call once stopping; answers and notifications still go (a parked call
            # may be waiting for this very client's answer).
            self.write(self.drain.error(msg["id"]))
            return
        begin_request()
        try:
            if is_request and self.observer is not None:
                # Read now: serving a 2026 request takes the envelope (and its version) out.
                stateless = stateless_version(msg)
                answer = await self.observer.observed(
                    msg, self._handle(msg), lambda: stateless or self.session.protocol_version
                )
            else:
                answer = await self._handle(msg)
            if answer is not None:
                self.write(answer)
        except Exception as exc:  # a bug: the client gets -32603, not silence
            log.exception("failed to handle %s", msg.get("method"))
            if is_request:
                self.write(jsonrpc.error(msg["id"], unexpected(msg["method"], exc)))
        except asyncio.CancelledError:
            if not self.drain.ending:
                raise
            if is_request:
                self.write(self.drain.error(msg["id"]))

    async def _handle(self, msg: JsonObject) -> bytes | None:
        """The answer to ``msg`` (None: a notification, or one that went out already)."""
        if self.gate is not None and "id" in msg:
            return await self._gated(self.gate, msg)
        return await self._serve(msg)

    async def _gated(self, gate: Gate, msg: JsonObject) -> bytes | None:
        """:meth:`_serve` for a request once authentication is on: admitted first (a pipe
        has no status: a refusal is its JSON-RPC error)."""
        try:
            ticket = gate.admit(self.session.principal, msg, None, self.session.id)
        except (AccessDenied, RateLimited) as exc:
            return jsonrpc.error(msg["id"], exc)
        answer = await self._serve(msg)
        if ticket is not None:
            gate.done(ticket, answer)
        return answer

    async def _serve(self, msg: JsonObject) -> bytes | None:
        """Serve one message: its answer (None: none, or the bridge sent it)."""
        if "id" in msg and "method" in msg and stateless_version(msg) is not None:
            return await self._stateless(msg)
        if msg.get("method") == "notifications/cancelled":
            self._end_listen((msg.get("params") or {}).get("requestId"))
        return await self.router.handle(self.session, msg, self)

    async def _stateless(self, msg: JsonObject) -> bytes | None:
        if msg["method"] == "subscriptions/listen":
            gone = self._listens[msg["id"]] = asyncio.ensure_future(self.closed.wait())
            try:
                await self.stateless.listener.serve(msg, self._emit, gone)
            finally:
                gone.cancel()
                if self._listens.get(msg["id"]) is gone:
                    del self._listens[msg["id"]]
            return None
        answered = await self.stateless.answer(msg, None, self, self.session.principal)
        # None: the bridge sent it (finish) and went on
        return None if answered is None else answered[1]

    def _end_listen(self, request_id: object) -> None:
        """On a pipe, a 2026 client ends a listen with ``notifications/cancelled`` naming it."""
        if jsonrpc.is_valid_id(request_id) and request_id in self._listens:
            self._listens[request_id].cancel()

    async def _emit(self, frame: bytes | None, last: bool) -> None:
        if frame is not None:  # a pipe needs no keepalives
            self.write(frame)

    async def _pump_outbound(self) -> None:
        cursor = 0
        while not self.session.events.closed:
            for event_id, frame in self.session.events.after(cursor):
                self.write(frame)
                cursor = event_id
            await self.session.events.wait(None)

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        out, _ = await loop.connect_write_pipe(asyncio.Protocol, sys.stdout.buffer)
        self._out = out
        await loop.connect_read_pipe(lambda: _StdinProtocol(self), sys.stdin.buffer)
        self.gateway.sessions.add(self.session)
        self.session.hold()  # the one client is connected as long as stdin is open
        pump = asyncio.ensure_future(self._pump_outbound())
        await self.gateway.start()
        try:
            await self.closed.wait()
            # 2026 calls parked for their client's next round end now: it cannot send one (a
            # new request is refused from now on). The rest get the grace, then an error.
            self.stateless.close()
            await self.drain.run(lambda: self._tasks)
        finally:
            pump.cancel()
            self.stateless.close()
            await self.gateway.stop()
            self.audit.close()
            with contextlib.suppress(OSError):
                out.close()
