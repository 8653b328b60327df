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

The hook is uvicorn's ``_start_asgi_task``, which receives each request's cycle before the app
runs; with a uvicorn that lacks it the stock protocol is used (tests/front/test_http11.py fails,
so the loss is noticed).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
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
        HttpToolsProtocol._start_asgi_task(self, cycle, app)  # not super(): no proxy object


def http_protocol() -> type[asyncio.Protocol] | str:
    """The protocol class for ``uvicorn.Config(http=...)``: ours while uvicorn has the hook."""
    if callable(getattr(HttpToolsProtocol, "_start_asgi_task", None)):
        return OneWriteProtocol
    return "httptools"
