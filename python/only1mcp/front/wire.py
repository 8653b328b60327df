"""What the HTTP fronts share on the wire: error answers, request bodies, SSE encoding.

Both the Streamable HTTP front (``/mcp``) and the legacy HTTP+SSE front (``/sse`` and
``/messages``) are plain ASGI; both stream a session's log of messages as SSE with
:func:`follow`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator, Awaitable

from only1mcp.audit import AuditLog
from only1mcp.auth.principal import Principal
from only1mcp.errors import InvalidRequest, RateLimited, RpcError, unexpected
from only1mcp.front.http11 import answer_whole, body_received
from only1mcp.protocol import jsonrpc
from only1mcp.session import KEEPALIVE, RETRY_AFTER, Session, SessionStore
from only1mcp.types import Receive, RequestId, Send

log = logging.getLogger("only1mcp.front")

MAX_BODY = 16 * 1024 * 1024
RETRY_MS = 1000  # how soon a client should reconnect a dropped stream
JSON_HEADERS = [(b"content-type", b"application/json")]
_JSON_LINES = b"content-type: application/json\r\n"
SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


class HttpError(Exception):
    """Ends a request with an HTTP status and a JSON-RPC error body (with ``request_id``, when
    the request was read), and any ``headers`` the status calls for."""

    def __init__(
        self,
        status: int,
        error: RpcError,
        headers: list[tuple[bytes, bytes]] | None = None,
        request_id: RequestId | None = None,
    ) -> None:
        self.status = status
        self.error = error
        self.headers = headers or []
        self.request_id = request_id

    def respond(self, send: Send) -> Awaitable[None]:
        """Send it as the response."""
        frame = jsonrpc.error(self.request_id, self.error)
        return respond(send, self.status, frame, [*JSON_HEADERS, *self.headers])


def session_refused(exc: RpcError, id: RequestId | None) -> HttpError:
    """The answer to an initialize (or a GET /sse) the full session store refused: 429 with
    ``Retry-After`` when the principal has its share, else 503."""
    if isinstance(exc, RateLimited):
        retry = [(b"retry-after", b"%d" % max(1, math.ceil(exc.retry_after)))]
        return HttpError(429, exc, retry, id)
    return HttpError(503, exc, [(b"retry-after", b"%d" % RETRY_AFTER)], id)


def bound_session(
    sessions: SessionStore, session_id: str, principal: Principal, audit: AuditLog
) -> Session | None:
    """The session ``session_id`` names, now its most recently used, when ``principal``
    opened it. Another principal's session is as unknown to it as a missing one (the client
    hears 404 either way), and the attempt is audited."""
    session = sessions.get(session_id)
    if session is not None and session.principal is not principal:
        if session.principal.id != principal.id:
            audit.session_mismatch(principal, session_id)
            return None
        session.principal = principal  # the same identity with a fresher credential
    return sessions.use(session_id)


def sse_message(frame: bytes) -> bytes:
    return b"event: message\ndata: " + frame + b"\n\n"


async def follow(session: Session, receive: Receive, cursor: int) -> AsyncIterator[bytes]:
    """The session's logged messages after event ``cursor`` as SSE events, with keepalive
    comments while it is quiet, until the client leaves or the session ends (what the session
    logged before it ended goes out first: a shutdown's last answers are among it)."""
    disconnected = asyncio.ensure_future(wait_disconnect(receive))
    try:
        while not disconnected.done():
            batch = session.events.after(cursor)
            for cursor, frame in batch:
                yield b"id: %d\n" % cursor + sse_message(frame)
            if batch:
                session.events.mark_delivered(cursor)
            elif session.events.closed:
                break
            elif not await session.events.wait(KEEPALIVE, disconnected):
                yield b": keepalive\n\n"
    finally:
        disconnected.cancel()


async def wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def read_body(receive: Receive) -> bytes:
    body = body_received(receive)
    if body is not None:
        return body  # what almost every POST finds: its body came whole (front/http11.py)
    message = await receive()
    first: bytes = message.get("body", b"")
    if not message.get("more_body"):
        return first  # one chunk, no copy
    chunks = [first]
    size = len(first)
    while message.get("more_body"):
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise HttpError(413, InvalidRequest("Request body too large"))
        chunks.append(chunk)
    return b"".join(chunks)


async def respond(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    if headers is JSON_HEADERS and answer_whole(send, status, _JSON_LINES, body):
        return  # what almost every request is answered: written at once (front/http11.py)
    # A known length spares the chunked encoding: one write less per response.
    length = (b"content-length", b"%d" % len(body))
    await send({"type": "http.response.start", "status": status, "headers": [*headers, length]})
    await send({"type": "http.response.body", "body": body})


async def last_resort(send: Send, exc: Exception) -> None:
    """An exception no layer expected reached the front: log its traceback, and tell the
    client -32603 (id null: it may not be known here) rather than let the server answer 500.
    When the response had started already (a stream), it is ended instead."""
    log.error("unexpected error answering an HTTP request", exc_info=exc)
    await answer_or_end(send, jsonrpc.error(None, unexpected(None, exc)))


async def answer_or_end(send: Send, frame: bytes) -> None:
    """Answer ``frame`` as JSON, or end the response when it had started already."""
    try:
        await respond(send, 200, frame, JSON_HEADERS)
    except Exception:
        with contextlib.suppress(Exception):
            await send({"type": "http.response.body", "body": b"", "more_body": False})
