"""A lean HTTP/1.1 client for one origin: keep-alive connections on asyncio Protocols.

The mirror image of the front (:mod:`only1mcp.front.http11`): each connection is a Protocol
that feeds what it receives to an ``httptools`` response parser, and a request is one
``transport.write`` of bytes built from a prefix encoded once per backend and the request's
own header lines, encoded once per distinct set (a backend sends few: its session's, or a 2026
call's method and tool name) and kept, :data:`MAX_HEADER_SETS` at most. httpx spent ~1 ms
of CPU per call here (its pool, anyio streams and h11 in pure Python); this costs a few tens
of µs (docs/PERFORMANCE.md, "HTTP backend client").

* **Pool**: at most ``max_connections`` per origin, idle ones reused last-in first-out (the
  warmest socket), callers beyond the bound queue in order. A connection goes back to the pool
  the moment its response is complete, before the caller has even looked at the body (which is
  kept in the :class:`Response`); one whose response was not read to its end is closed.
* **Keep-alive closes**: a server may close an idle connection at any time. A request that
  fails on a reused connection before a byte of its answer arrived is sent once more on a new
  connection (the server cannot have acted on a request it never read... or it closed the
  connection right after acting without answering, which HTTP/1.1 gives no way to tell apart).
* **Bodies**: ``content-length``, chunked, or (HTTP/1.0 style) up to the connection's end.
  A streamed body (SSE) is read chunk by chunk with :meth:`Response.next_chunk`; when the
  caller falls more than :data:`HIGH_WATER` behind, the socket stops being read.
* **Errors** are OSError (ConnectionError for a connection that broke or a response that is
  not HTTP); callers translate them into the project's errors at their edge. https uses the
  same trust store httpx used (``httpx.create_ssl_context``).
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from urllib.parse import urlsplit

import httptools

from only1mcp._core import whole_response

# Pause reading a streamed body when this much of it is waiting for the caller.
HIGH_WATER = 256 * 1024
# How long the rest of a response its caller closed early may take to arrive (and be dropped)
# before its connection is closed rather than kept.
DRAIN_SECONDS = 1.0
# Distinct sets of per-request headers whose encoded lines a pool keeps.
MAX_HEADER_SETS = 256


class Response:
    """One response: status and headers at once, the body as it arrives."""

    __slots__ = (
        "_chunks",
        "_conn",
        "_discard",
        "_done",
        "_error",
        "_got",
        "_loop",
        "_size",
        "_waiter",
        "headers",
        "status",
    )

    def __init__(self, conn: Connection) -> None:
        self._conn: Connection | None = conn
        self._loop = conn.loop
        self.status = 0
        self.headers: dict[str, str] = {}
        self._chunks: collections.deque[bytes] = collections.deque()
        self._size = 0
        self._done = False
        self._got = False  # any byte of the answer arrived (a retry is no longer safe)
        self._discard = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None

    # -- the caller's side

    async def read(self) -> bytes:
        """The whole body."""
        while not self._done:
            await self._wait()
        return self._joined()

    def body(self) -> bytes | None:
        """The whole body if it has all arrived (as :meth:`read` would give it), else None."""
        if not self._done or self._error is not None:
            return None
        return self._joined()

    def _joined(self) -> bytes:
        chunks = self._chunks
        if len(chunks) == 1:
            return chunks.popleft()
        body = b"".join(chunks)
        chunks.clear()
        return body

    async def next_chunk(self) -> bytes:
        """The next piece of the body; b"" at its end."""
        while not self._chunks:
            if self._done:
                return b""
            await self._wait()
        chunk = self._chunks.popleft()
        self._size -= len(chunk)
        conn = self._conn
        if conn is not None and conn.paused and self._size < HIGH_WATER // 2:
            conn.resume()
        return chunk

    def close(self) -> None:
        """Done with this response. The rest of an unfinished body is read and dropped for up
        to :data:`DRAIN_SECONDS`, so the connection can be kept: an SSE answer is found before
        its stream's end, which follows at once. After that the connection is closed."""
        conn, self._conn = self._conn, None
        if conn is not None and not self._done and not conn.closed:
            self._discard = True
            self._chunks.clear()
            conn.resume()
            conn.drain()

    async def _wait(self) -> None:
        if self._error is not None:
            raise self._error
        waiter = self._waiter = self._loop.create_future()
        try:
            await waiter
        finally:
            self._waiter = None
        if self._error is not None and not self._done:
            raise self._error

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- the connection's side

    def _body(self, chunk: bytes) -> None:
        if self._discard:
            return
        self._chunks.append(chunk)
        self._size += len(chunk)
        if self._size > HIGH_WATER and self._conn is not None:
            self._conn.pause()
        self._wake()

    def _finish(self) -> None:
        self._done = True
        self._conn = None
        self._wake()

    def _fail(self, error: BaseException) -> None:
        if not self._done:
            self._error = error
            self._wake()


class Connection(asyncio.Protocol):
    """One keep-alive connection; at most one request on it at a time."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        # Made by the loop's create_connection, so in it. Kept: every get_running_loop() is a
        # getpid() system call (asyncio's check for a fork), and a call waited through it.
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.response: Response | None = None
        self.reused = False
        self.closed = False
        self.paused = False
        self._headers: dict[str, str] = {}  # the response's, as they arrive
        self._informational = False
        self._until_eof = False
        self._drain_timer: asyncio.TimerHandle | None = None

    def send(self, response: Response, data: bytes) -> None:
        if self.closed or self.transport is None:  # lost while it was being handed over
            raise ConnectionError("the server closed the connection")
        self.response = response
        self._headers = {}
        self.transport.write(data)

    def pause(self) -> None:
        if self.transport is not None and not self.paused:
            self.paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.transport is not None and self.paused:
            self.paused = False
            self.transport.resume_reading()

    def drain(self) -> None:
        """Keep reading the current response, for nobody; close if it does not end soon."""
        self._drain_timer = self.loop.call_later(DRAIN_SECONDS, self.abort)

    def abort(self) -> None:
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.abort()

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        response = self.response
        if response is None:  # bytes nobody asked for: this connection is out of step
            self.abort()
            return
        if not response._got and not self._informational:
            # The common answer, head and whole body in one read, is read in one call
            # (the incremental parser's callbacks cost ~20k instructions a response); the
            # parser is between messages here, so it stays in step for what comes next.
            whole = whole_response(data)
            if whole is not None:
                self._whole(response, *whole)
                return
        response._got = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            response._fail(ConnectionError(f"malformed HTTP response: {exc}"))
            self.abort()

    def _whole(self, response: Response, status: int, headers: dict[str, str], body: bytes) -> None:
        """A complete keep-alive response read at once: what the parser's callbacks do for
        it, in their order (headers, body, end)."""
        response._got = True
        response.headers = headers
        response.status = status
        if body:
            response._body(body)
        self._complete(keep_alive=True)

    def eof_received(self) -> bool | None:
        return None  # let the transport close; connection_lost tells the response

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._drain_timer is not None:
            self._drain_timer.cancel()
        response, self.response = self.response, None
        if response is not None:
            if self._until_eof and response.status:
                response._finish()  # a body delimited by the connection's end
            else:
                why = f": {exc}" if exc else ""
                response._fail(ConnectionError(f"the server closed the connection{why}"))
        self.pool.discard(self)

    # -- httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        # Decoded as they come (no list of pairs to go over again): a repeated name keeps
        # its last value, as the dict built from the pairs did.
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status < 200:  # 100 Continue and friends: the real answer follows
            self._informational = True
            self._headers = {}
            return
        response = self.response
        assert response is not None
        headers = response.headers = self._headers
        response.status = status
        self._until_eof = "content-length" not in headers and "chunked" not in headers.get(
            "transfer-encoding", ""
        )
        response._wake()

    def on_body(self, body: bytes) -> None:
        if self.response is not None:
            self.response._body(body)

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        self._complete(self.parser.should_keep_alive())

    def _complete(self, keep_alive: bool) -> None:
        """The current response has all arrived: it is finished, and the connection goes back
        to the pool (or is closed)."""
        response, self.response = self.response, None
        self._until_eof = False
        if self._drain_timer is not None:
            self._drain_timer.cancel()
            self._drain_timer = None
        if response is not None:
            response._finish()
        if keep_alive:
            self.pool.release(self)
        else:
            self.abort()


class Pool:
    """Keep-alive connections to the origin of ``url``, at most ``max_connections`` at once."""

    def __init__(
        self,
        url: str,
        headers: dict[str, str] | None = None,
        max_connections: int = 64,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.https else 80)
        self.target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.max_connections = max_connections
        self.opened = 0  # connections made over the pool's life (tests, metrics)
        self._ssl = ssl_context  # https: httpx's default context unless one is given
        self._count = 0  # open or opening
        self._idle: list[Connection] = []
        self._open: set[Connection] = set()  # every connection made and not yet lost
        self._waiters: collections.deque[asyncio.Future[Connection | None]] = collections.deque()
        self._closed = False
        netloc = parts.netloc.rpartition("@")[2]  # never credentials in the Host header
        self._host_line = b"Host: " + netloc.encode("idna") + b"\r\n"
        self._static = encode_headers(headers or {})
        self._heads: dict[str, bytes] = {}  # method → request line, Host and static headers
        # A request's own headers → their encoded lines. A backend sends a handful of distinct
        # sets (session id and version; a 2026 call's method and tool name), so encoding and
        # checking each set once saves that work on every call; bounded all the same.
        self._lines: dict[tuple[tuple[str, str], ...], bytes] = {}

    def request_bytes(self, method: str, headers: dict[str, str], body: bytes = b"") -> bytes:
        """The request as it goes on the wire (one write)."""
        head = self._heads.get(method)
        if head is None:
            line = f"{method} {self.target} HTTP/1.1\r\n".encode("ascii")
            head = self._heads[method] = line + self._host_line + self._static
        key = tuple(headers.items())
        lines = self._lines.get(key)
        if lines is None:
            lines = encode_headers(headers)  # raises on a line break: never cached
            if len(self._lines) >= MAX_HEADER_SETS:
                self._lines.clear()
            self._lines[key] = lines
        length = b"Content-Length: %d\r\n\r\n" % len(body) if body or method == "POST" else b"\r\n"
        return b"".join((head, lines, length, body))

    async def request(self, method: str, headers: dict[str, str], body: bytes = b"") -> Response:
        """Send one request; return once the response's status and headers are in."""
        data = self.request_bytes(method, headers, body)
        retried = False
        while True:
            # An idle connection is taken here, without a coroutine of its own: the common case.
            conn = self._idle_connection() or await self._acquire()
            response = Response(conn)
            try:
                conn.send(response, data)
                while not response.status:
                    await response._wait()
            except ConnectionError:
                conn.abort()
                if conn.reused and not response._got and not retried:
                    retried = True  # the server closed a kept-alive connection: once more
                    continue
                raise
            except BaseException:
                conn.abort()  # cancelled mid-request: the connection is out of step
                raise
            return response

    def _idle_connection(self) -> Connection | None:
        """The warmest idle connection still open, or None."""
        idle = self._idle
        while idle:
            conn = idle.pop()
            if not conn.closed:
                conn.reused = True
                return conn
        return None

    async def _acquire(self) -> Connection:
        if self._closed:
            raise ConnectionError("the client is closed")
        if self._count >= self.max_connections:
            waiter: asyncio.Future[Connection | None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                got = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._hand_back(waiter.result())
                raise
            if got is not None:
                return got
        else:
            self._count += 1
        try:
            return await self._connect()
        except BaseException:
            self._slot_freed()
            raise

    async def _connect(self) -> Connection:
        loop = asyncio.get_running_loop()
        if self.https and self._ssl is None:
            import httpx  # only for its trust store: certifi, as before this client existed

            self._ssl = httpx.create_ssl_context()
        _, conn = await loop.create_connection(
            lambda: Connection(self), self.host, self.port, ssl=self._ssl if self.https else None
        )
        self.opened += 1
        self._open.add(conn)
        return conn

    def _hand_back(self, got: Connection | None) -> None:
        """A queued caller was given ``got`` (a connection, or a free slot) but is gone."""
        if got is None:
            self._slot_freed()
        else:
            self.release(got)

    def release(self, conn: Connection) -> None:
        """``conn`` finished its response and is kept alive: to the next caller, or idle."""
        if conn.closed or self._closed:
            conn.abort()
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                conn.reused = True
                waiter.set_result(conn)
                return
        self._idle.append(conn)

    def discard(self, conn: Connection) -> None:
        """``conn`` is closed: its slot is free."""
        self._open.discard(conn)
        if conn in self._idle:
            self._idle.remove(conn)
        self._slot_freed()

    def _slot_freed(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes to this caller
                return
        self._count -= 1

    def close(self) -> None:
        """Close every connection: the requests on them fail."""
        self._closed = True
        self._idle = []
        for conn in list(self._open):
            conn.abort()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(ConnectionError("the client is closed"))


def encode_headers(headers: dict[str, str]) -> bytes:
    """``Name: value\\r\\n`` lines; a value with a line break would smuggle a header in."""
    lines = []
    for name, value in headers.items():
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise ValueError(f"line break in HTTP header {name!r}")
        lines.append(f"{name}: {value}\r\n")
    return "".join(lines).encode("latin-1")
