"""uvicorn's httptools protocol, writing a sized response's head and body in one piece.

Stock uvicorn writes the status line and headers when the app sends ``http.response.start``
and the body when it sends ``http.response.body``; uvloop sends each write at once, so every
answer costs two TCP segments, two wake-ups of the client and two passes through the loopback
stack. For a response with a ``content-length`` the head is of no use to the client without
the body, so here it waits for the body's first write and both leave in one ``send``: under
load the kernel's TCP send path fell from 12% to 9% of the server's CPU (docs/PERFORMANCE.md).

Anything else is written as uvicorn writes it: streamed (chunked, SSE) responses, whose head
must go out before the first event, ``100 Continue``, and HEAD requests, which have no body.
A held head is also written before the connection is closed.

:func:`answer_whole` goes one step further for the answer almost every request gets (JSON with
a length): when the app's ``send`` is the request cycle's own (no middleware wrapped it), the
whole response is written at once, without the two ASGI messages, uvicorn's per-header checks
(our header lines are constants) and the held head, and the cycle is left as uvicorn's
``send`` leaves it.

:func:`body_received` is its mirror for the request: when the app's ``receive`` is the
cycle's own and the whole body came with the head (almost every POST), the body is taken as
uvicorn's ``receive`` would hand it over and the cycle left as it leaves it, without the
coroutine, the event's wait and the message dict.

The hook is uvicorn's ``_start_asgi_task`', which receives each request's cycle before the app
runs; with a uvicorn that lacks it the stock protocol is used (tests/front/test_http11.py fails,
so the loss is noticed).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

from only1mcp.types import Receive, Send

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
TASK_NAME = "only1mcp-request"
SIZED = b"\r\ncontent-length: "  # uvicorn lowercases the header names it writes


class HeadWithBody:
    """One request's view of its connection: the head of a sized response waits for the body."""

    __slots__ = ("_head", "_started", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._head = b""
        self._started = False

    def write(self, data: bytes) -> None:
        if self._started:
            if self._head:
                data, self._head = self._head + data, b""
        elif data != CONTINUE:
            self._started = True  # so this write is the head: a body never looks like one
            # find(), not ``in``: ``bytes in bytes`` first tries the operand as an int and
            # raises (and clears) a TypeError, which costs more than the search itself.
            if data.find(SIZED) != -1:
                self._head = data
                return
        self._transport.write(data)

    def whole(self, data: bytes) -> None:
        """A whole response, head and body (nothing was written before it)."""
        self._started = True
        self._transport.write(data)

    def close(self) -> None:
        if self._head:
            self._transport.write(self._head)
            self._head = b""
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()


class OneWriteProtocol(HttpToolsProtocol):
    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        if cycle.scope["method"] != "HEAD":
            cycle.transport = HeadWithBody(self.transport)  # type: ignore[assignment]
        if self.config.reset_contextvars:
            HttpToolsProtocol._start_asgi_task(self, cycle, app)  # not super(): no proxy object
            return
        # uvicorn's loop.create_task, with a name: CPython 3.11 formats "Task-<n>" for each
        # unnamed task (1.5k instructions per request, callgrind).
        task = asyncio.Task(cycle.run_asgi(app), loop=self.loop, name=TASK_NAME)
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)


def http_protocol() -> type[asyncio.Protocol] | str:
    """The protocol class for ``uvicorn.Config(http=...)``: ours while uvicorn has the hook."""
    if callable(getattr(HttpToolsProtocol, "_start_asgi_task", None)):
        return OneWriteProtocol
    return "httptools"


class _Defaults:
    """uvicorn's default header lines (``date``), encoded once per list: uvicorn makes a new
    list when the second changes."""

    __slots__ = ("lines", "of")

    def __init__(self) -> None:
        self.of: object = None
        self.lines = b""

    def encoded(self, headers: list[tuple[bytes, bytes]]) -> bytes:
        if headers is not self.of:
            self.lines = b"".join(b"%s: %s\r\n" % pair for pair in headers)
            self.of = headers
        return self.lines


_defaults = _Defaults()


def answer_whole(send: Send, status: int, lines: bytes, body: bytes) -> bool:
    """Write a response with ``body`` and the header ``lines`` (``Name: value\r\n`` each,
    constants of ours) in one piece, straight to the connection, when ``send`` is the request
    cycle's own and nothing was sent yet; False (nothing done) otherwise: the caller sends it
    the ASGI way."""
    cycle = getattr(send, "__self__", None)
    if type(cycle) is not RequestResponseCycle:
        return False  # a middleware's send, or not uvicorn's protocol
    transport: object = cycle.transport  # ours (HeadWithBody) unless HEAD or stock uvicorn
    if (
        type(transport) is not HeadWithBody
        or cycle.response_started
        or cycle.disconnected
        or cycle.flow.write_paused  # uvicorn's send waits for the drain: let it
        or cycle.access_log
    ):
        return False
    cycle.response_started = True
    cycle.waiting_for_100_continue = False
    keep_alive = cycle.keep_alive
    end = b"\r\n" if keep_alive else b"connection: close\r\n\r\n"
    transport.whole(
        b"".join(
            (
                STATUS_LINE[status],
                _defaults.encoded(cycle.default_headers),
                lines,
                b"content-length: %d\r\n" % len(body),
                end,
                body,
            )
        )
    )
    cycle.response_complete = True
    cycle.message_event.set()
    if not keep_alive:
        transport.close()
    cycle.on_response()
    return True


def body_received(receive: Receive) -> bytes | None:
    """The request's whole body, when ``receive`` is the request cycle's own and the body has
    all arrived with nothing else to do first (no ``100 Continue`` owed, reading not paused, no
    disconnect); None (nothing done) otherwise: the caller receives it the ASGI way.

    uvicorn's ``receive`` would resume reading (not paused: nothing to do), find the message
    event set (the body's end set it), clear it and hand over a copy of the body."""
    cycle = getattr(receive, "__self__", None)
    if type(cycle) is not RequestResponseCycle:
        return None  # a middleware's receive, or not uvicorn's protocol
    if (
        cycle.more_body
        or cycle.waiting_for_100_continue
        or cycle.disconnected
        or cycle.response_complete
        or cycle.flow.read_paused
    ):
        return None
    body = bytes(cycle.body)
    cycle.body = bytearray()
    cycle.message_event.clear()
    return body
