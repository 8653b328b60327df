"""The 2026-07-28 (stateless) side of ``/mcp`` over HTTP: one POST, one request, no session.

:class:`~only1mcp.front.http.McpEndpoint` hands a request here when its ``MCP-Protocol-Version``
header is not a handshake revision. This module owns only what is HTTP about it (POST only,
``Accept``, status codes, JSON or SSE); :mod:`only1mcp.stateless` serves the request.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any

from only1mcp.access.gate import Gate, Ticket
from only1mcp.auth.principal import ANONYMOUS, Principal, principal_of
from only1mcp.errors import InvalidRequest, RpcError
from only1mcp.front.admission import admit
from only1mcp.front.drain import Drain
from only1mcp.front.wire import (
    JSON_HEADERS,
    SSE_HEADERS,
    HttpError,
    read_body,
    respond,
    sse_message,
    wait_disconnect,
)
from only1mcp.protocol import jsonrpc
from only1mcp.protocol.stateless import (
    LATEST_STATELESS,
    Headers,
    check_request,
    error_frame_id,
    stateless_version,
)
from only1mcp.stateless import StatelessService
from only1mcp.telemetry.context import begin_request
from only1mcp.telemetry.observer import Observer
from only1mcp.types import JsonObject, Receive, Scope, Send


class StatelessEndpoint:
    def __init__(
        self,
        service: StatelessService,
        drain: Drain | None = None,
        gate: Gate | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.service = service
        self.drain = drain or Drain(service.gateway.config.front.shutdown_grace)
        self.gate = gate  # None: authentication is off (and no audit), nothing to check
        self.observer = observer

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        return self.serve(scope, receive, send, dict(scope["headers"]))

    async def serve(
        self, scope: Scope, receive: Receive, send: Send, by_name: dict[bytes, bytes]
    ) -> None:
        """Serve one request; ``by_name`` is its header lines as a dict (the caller made one)."""
        if scope["method"] != "POST":
            await respond(send, 405, b"", [(b"allow", b"POST")])
            return
        accept = by_name.get(b"accept", b"")
        if not (_ACCEPTABLE.get(accept) or _acceptable(accept)):
            error = InvalidRequest(
                "Not Acceptable: Accept must list application/json and text/event-stream"
            )
            await respond(send, 406, jsonrpc.error(None, error), JSON_HEADERS)
            return
        begin_request()
        try:
            msg = _message(await read_body(receive))
            if isinstance(msg, tuple):  # an error, or 202 for a notification
                await respond(send, *msg)
                return
            # Authentication on: the call is admitted first, the lists are as it may see them.
            principal, ticket = (ANONYMOUS, None) if self.gate is None else self._admit(scope, msg)
        except HttpError as exc:  # too large, or refused
            await exc.respond(send)
            return
        reply = _Reply(send)
        raw = scope["headers"]
        # The common call first: it reads the header lines as they are (none twice).
        answering = self.service.fresh_call(msg, by_name, len(by_name) != len(raw), reply)
        # The version is read before serving: serving takes the envelope out of ``_meta``.
        version: str | None = LATEST_STATELESS
        if answering is None:
            headers = Headers(raw, by_name)
            if msg["method"] == "subscriptions/listen":
                await self._listen(msg, headers, receive, reply)
                return
            version = stateless_version(msg)
            answering = self.service.answer(msg, headers, reply, principal)
        observer = self.observer
        # Measured in place (not through a wrapping coroutine): a frame less per request.
        begun = None if observer is None else observer.begin(msg, by_name)
        answered = None
        try:
            answered = await answering
        except asyncio.CancelledError:
            if not self.drain.ending:
                raise
            answered = 200, self.drain.error(msg["id"])
        finally:
            if begun is not None and observer is not None:
                frame = None if answered is None else answered[1]
                observer.end(begun, msg, frame, version)
        if answered is not None:  # None: the bridge sent it (reply.finish) and went on
            await reply.finish(*answered)
        if ticket is not None and self.gate is not None:
            self.gate.done(ticket, answered[1] if answered is not None else None)

    def _admit(self, scope: Scope, msg: JsonObject) -> tuple[Principal, Ticket | None]:
        """Who asks, and the gate's ticket; a refusal is counted (there is a gate)."""
        assert self.gate is not None
        try:
            return _admitted(self.gate, scope, msg)
        except HttpError as exc:
            if self.observer is not None:
                self.observer.refused(msg, exc.error, stateless_version(msg))
            raise

    async def _listen(
        self, msg: JsonObject, headers: Headers, receive: Receive, reply: _Reply
    ) -> None:
        try:
            check_request(headers, msg)
        except RpcError as exc:
            await reply.finish(400, jsonrpc.error(msg["id"], exc))
            return
        gone = asyncio.ensure_future(wait_disconnect(receive))
        try:
            with self.drain.stream():  # it ends when its session does, at the end of a drain
                await self.service.listener.serve(msg, reply.emit, gone)
        finally:
            gone.cancel()


# Whether an Accept value lists both types, by value: clients send the same one every time, and
# a dict lookup costs less than the two searches (bytes.find parses its arguments as a tuple;
# ``in`` raises and clears a TypeError first). Bounded: any value may come.
_ACCEPTABLE: dict[bytes, bool] = {}
_MAX_ACCEPT_VALUES = 64


def _acceptable(accept: bytes) -> bool:
    ok = accept.find(b"application/json") != -1 and accept.find(b"text/event-stream") != -1
    if len(_ACCEPTABLE) < _MAX_ACCEPT_VALUES:
        _ACCEPTABLE[accept] = ok
    return ok


def _admitted(gate: Gate, scope: Scope, msg: JsonObject) -> tuple[Principal, Ticket | None]:
    """Who asks, and the gate's ticket for the call (raises HttpError when it is refused)."""
    principal = principal_of(scope)
    return principal, admit(gate, msg, scope, None)


def _message(body: bytes) -> JsonObject | tuple[int, bytes, list[tuple[bytes, bytes]]]:
    """The request in the body, or how to answer it when it is none: an error, or 202 for a
    notification (nothing is defined client→server at 2026)."""
    payload: Any = None
    try:
        payload = jsonrpc.parse(body)
        if isinstance(payload, list):
            raise InvalidRequest("Invalid Request: batches are not part of MCP 2026-07-28")
        msg = jsonrpc.check_message(payload)
        if "method" not in msg:
            raise InvalidRequest("Invalid Request: expected a request, not a response")
    except RpcError as exc:
        return 400, jsonrpc.error(error_frame_id(payload), exc), JSON_HEADERS
    if "id" not in msg:
        return 202, b"", []
    return msg


class _Reply:
    """One POST's answer: JSON, unless a notification must go first; then an SSE stream."""

    __slots__ = ("_lock", "_send", "_streaming")

    def __init__(self, send: Send) -> None:
        self._send = send
        self._streaming = False
        self._lock: asyncio.Lock | None = None  # only a reply that streams needs one

    async def push(self, frame: bytes) -> None:
        await self.emit(frame, False)

    async def emit(self, frame: bytes | None, last: bool) -> None:
        """One SSE event (None: a keepalive comment); ``last`` ends the response."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if not self._streaming:
                self._streaming = True
                start = {"type": "http.response.start", "status": 200, "headers": SSE_HEADERS}
                await self._send(start)
            body = sse_message(frame) if frame is not None else b": keepalive\n\n"
            await self._send({"type": "http.response.body", "body": body, "more_body": not last})

    async def detach(self) -> None:
        """A 2026 server's streams are never resumed: there is nothing to detach."""

    def finish(self, status: int, frame: bytes) -> Awaitable[None]:
        # Not a coroutine: the common answer, plain JSON, is respond()'s awaitable itself.
        if self._streaming:
            return self._last_event(frame)
        return respond(self._send, status, frame, JSON_HEADERS)

    async def _last_event(self, frame: bytes) -> None:
        with contextlib.suppress(OSError):
            await self.emit(frame, True)
