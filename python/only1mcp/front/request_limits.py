"""Limits on how a client sends a request, enforced in the HTTP protocol before the app runs.

* **Header size**: a request's line and headers together may hold :data:`MAX_HEAD_BYTES`
  bytes in at most :data:`MAX_HEADERS` headers; beyond that the answer is ``431`` and the
  connection closes (httptools itself has no bound).
* **Slow clients** (slowloris): once a request has begun — or a connection opened — the client
  has ``front.request_timeout`` seconds to send the whole of it, head and body; a slower one is
  answered ``408`` (when no response has started) and disconnected.
* **Idle keep-alive connections** close after uvicorn's ``timeout_keep_alive`` (5 s by
  default), give or take a :data:`TICK`: the same walk notices them. Stock uvicorn arms a
  timer when a response completes and cancels it when the next request arrives, which cost
  ~3% of a call's instructions under load (7.5k of 225k, loadtests/server_callgrind.py: a
  uvloop TimerHandle made, scheduled, cancelled and freed per request); here a response
  leaves a timestamp instead.
* The body (:data:`~only1mcp.front.wire.MAX_BODY`) and JSON nesting (orjson's 1024 levels; 254
  to forward) are bounded where they are read.

A POST whose head and sized body arrive in one read (almost every MCP call) is read in one
call to :func:`~only1mcp._core.whole_request`, within the same head limits, rather than by
httptools and the dozen Python callbacks it makes per request (one per header line); anything
else, and any read while httptools is inside a request, goes to httptools as before.

The deadlines cost a timestamp per request: one timer per server walks the open connections
once a second.
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from typing import Any, ClassVar

import httptools
from uvicorn.protocols.http.flow_control import service_unavailable
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from only1mcp._core import whole_request
from only1mcp.front.http11 import http_protocol

MAX_HEAD_BYTES = 64 * 1024
MAX_HEADERS = 128
TICK = 1.0  # seconds between two looks at the open connections

TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-length: 0\r\nconnection: close\r\n\r\n"
)
TOO_SLOW = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


class _HeadTooLarge(Exception):
    """Stops the parser (httptools re-raises it as a parser error, which uvicorn handles)."""


class _Watch:
    """The open connections, looked at every :data:`TICK` seconds: one reading a request too
    slowly is answered 408, one idle past its keep-alive is closed."""

    def __init__(self) -> None:
        self.connections: set[GuardedProtocol] = set()
        self._timer: asyncio.TimerHandle | None = None

    def add(self, protocol: GuardedProtocol, loop: asyncio.AbstractEventLoop) -> None:
        self.connections.add(protocol)
        if self._timer is None:
            self._timer = loop.call_later(TICK, self._tick, loop)

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        now = time.monotonic()
        for protocol in list(self.connections):
            since = protocol.reading_since
            if since is not None:  # reading a request (or waiting for the first one)
                if now - since > protocol.request_timeout:
                    protocol.too_slow()
            elif (idle := protocol.idle_since) is not None and (
                now - idle > protocol.timeout_keep_alive
            ):
                protocol.idle_since = None
                protocol.timeout_keep_alive_handler()
        self._timer = loop.call_later(TICK, self._tick, loop) if self.connections else None


class GuardedProtocol(HttpToolsProtocol):
    """Made by :func:`guarded_protocol` (over the project's one-write protocol)."""

    request_timeout: ClassVar[float] = 30.0
    watch: ClassVar[_Watch]

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.reading_since: float | None = time.monotonic()  # the first request is due
        self.idle_since: float | None = None  # kept alive after a response, since then
        self._head = 0  # the bytes of the head being read: its URL and header lines
        self._refused = False
        self._in_message = False  # httptools has begun a request and not ended it
        self.watch.add(self, self.loop)

    def connection_lost(self, exc: Exception | None) -> None:
        self.watch.connections.discard(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        cycle = self.cycle
        if (
            not self._in_message
            and (cycle is None or cycle.response_complete)  # none running, none pipelined
            and self.limit_concurrency is None
            and (found := whole_request(data, MAX_HEAD_BYTES, MAX_HEADERS)) is not None
        ):
            self._whole(*found)
        else:
            super().data_received(data)

    def _whole(
        self,
        raw_path: bytes,
        query: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        keep_alive: bool,
    ) -> None:
        """A whole POST read at once: its scope and cycle as httptools' callbacks leave them
        at the request's end, and the app started."""
        self.reading_since = self.idle_since = None
        self.headers = headers
        scope = self._new_scope(headers)
        scope["method"] = "POST"
        self._set_path(scope, raw_path, query)
        cycle = self._new_cycle(scope, False, keep_alive)
        cycle.body = body  # type: ignore[assignment]  # uvicorn's receive hands over bytes()
        cycle.more_body = False
        cycle.message_event.set()
        self._start_asgi_task(cycle, self.app)

    def _new_scope(self, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
        """uvicorn's scope of a new request (its method and path are set later)."""
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": self.asgi_version, "spec_version": "2.3"},
            "http_version": "1.1",
            "server": self.server,
            "client": self.client,
            "scheme": self.scheme,
            "root_path": self.root_path,
            "headers": headers,
            "state": self.app_state.copy(),
        }
        self.scope = scope  # type: ignore[assignment]  # completed by the caller
        return scope

    def _set_path(self, scope: dict[str, Any], raw_path: bytes, query: bytes | None) -> None:
        path = raw_path.decode("ascii")
        if "%" in path:
            path = urllib.parse.unquote(path)
        scope["path"] = self.root_path + path
        scope["raw_path"] = self.root_path.encode("ascii") + raw_path
        scope["query_string"] = query or b""

    def _new_cycle(
        self, scope: dict[str, Any], expect_100: bool, keep_alive: bool
    ) -> RequestResponseCycle:
        # Its arguments by position: a class called with keywords packs them in a dict and
        # unpacks them again (~0.4 µs a request).
        self.cycle = RequestResponseCycle(
            scope,  # type: ignore[arg-type]
            self.transport,
            self.flow,
            self.logger,
            self.access_logger,
            self.access_log,
            self.server_state.default_headers,
            asyncio.Event(),
            expect_100,
            keep_alive,
            self.on_response_complete,
        )
        return self.cycle

    def on_message_begin(self) -> None:
        # uvicorn's (a new request's scope), inlined like the callbacks below.
        self._in_message = True
        self.url = b""
        self.expect_100_continue = False
        self.headers = []
        self._new_scope(self.headers)
        self.reading_since = time.monotonic()
        self.idle_since = None
        self._head = 0

    def on_headers_complete(self) -> None:
        # uvicorn's.
        parser = self.parser
        http_version = parser.get_http_version()
        scope: dict[str, Any] = self.scope  # type: ignore[assignment]
        scope["method"] = parser.get_method().decode("ascii")
        if http_version != "1.1":
            scope["http_version"] = http_version
        if parser.should_upgrade() and self._should_upgrade():
            return
        parsed_url = httptools.parse_url(self.url)
        self._set_path(scope, parsed_url.path, parsed_url.query)
        app = self.app
        limit = self.limit_concurrency
        if limit is not None and (len(self.connections) >= limit or len(self.tasks) >= limit):
            app = service_unavailable
            self.logger.warning("Exceeded concurrency limit.")
        existing_cycle = self.cycle
        keep_alive = http_version != "1.0" and parser.should_keep_alive()
        self._new_cycle(scope, self.expect_100_continue, keep_alive)
        if existing_cycle is None or existing_cycle.response_complete:
            self._start_asgi_task(self.cycle, app)
        else:  # pipelined: it starts when the response before it is complete
            self.flow.pause_reading()
            self.pipeline.appendleft((self.cycle, app))

    def on_response_complete(self) -> None:
        # uvicorn's, but the keep-alive deadline is a timestamp for the watch rather than a
        # timer armed here and cancelled by the next request (none is ever armed, so there is
        # none to cancel either).
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:  # a pipelined request waited for this response: it starts now
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        else:
            self.idle_since = time.monotonic()

    # The parser callbacks below are uvicorn's own, inlined with the counting (no super()
    # call): they run for every request, on_header for every header line of it.
    def on_url(self, url: bytes) -> None:
        self.url += url  # the URL comes before any header: the head so far
        self._head = len(self.url)
        if self._head > MAX_HEAD_BYTES:
            self._refuse()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head += len(name) + len(value)
        if self._head > MAX_HEAD_BYTES or len(self.headers) >= MAX_HEADERS:
            self._refuse()
        name = name.lower()
        value = value.rstrip(b" \t")  # llhttp keeps trailing OWS (RFC 9110 §5.5 excludes it)
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        self.headers.append((name, value))

    def on_message_complete(self) -> None:
        self.reading_since = None
        self._in_message = False
        if self.cycle.response_complete or (
            self.parser.should_upgrade() and self._should_upgrade()
        ):
            return
        self.cycle.more_body = False
        self.cycle.message_event.set()

    def _refuse(self) -> None:
        self._refused = True
        self.transport.write(TOO_LARGE)
        self.transport.close()
        raise _HeadTooLarge

    def send_400_response(self, msg: str) -> None:
        if not self._refused:  # a refused head was answered 431 already
            super().send_400_response(msg)

    def too_slow(self) -> None:
        self.reading_since = None
        self.watch.connections.discard(self)
        if self.cycle is None or not self.cycle.response_started:
            self.transport.write(TOO_SLOW)
        self.transport.close()


def guarded_protocol(request_timeout: float) -> type[asyncio.Protocol] | str:
    """The protocol class for ``uvicorn.Config(http=...)``: the project's (see
    :mod:`only1mcp.front.http11`) with these limits; each server its own watch."""
    base = http_protocol()
    if isinstance(base, str):  # uvicorn without the hook: the limits ride on stock httptools
        base = HttpToolsProtocol
    attrs: dict[str, Any] = {"request_timeout": request_timeout, "watch": _Watch()}
    return type("Guarded" + base.__name__, (GuardedProtocol, base), attrs)
