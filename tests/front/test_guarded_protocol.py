"""The front's protocol (``guarded_protocol``) where it replaces uvicorn's code: idle keep-alive
connections closed after uvicorn's ``timeout_keep_alive`` by the watch that also cuts slow
clients, never while a request is read or served, and without the timer stock uvicorn arms per
response; the parser callbacks it inlines give the app the scope stock uvicorn gives.

A real uvicorn server (uvloop, the front's protocol class) in a thread, real sockets as clients;
the keep-alive is 0.3 s and the watch ticks every 0.05 s so the waits stay short.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from backends.conftest import ThreadServer
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from only1mcp.front import request_limits
from only1mcp.front.request_limits import guarded_protocol
from only1mcp.front.wire import JSON_HEADERS, respond
from only1mcp.types import Receive, Scope, Send

KEEP_ALIVE = 0.3
TICK = 0.05
# The client reads its clock after the server did: a close can look up to this much early.
EARLY = 0.05
SLOW = 2 * KEEP_ALIVE  # the /slow answer takes longer than the keep-alive
BODY = b'{"jsonrpc":"2.0","id":1,"result":{}}'
REQUEST = b"POST /%s HTTP/1.1\r\nhost: t\r\ncontent-length: 0\r\n\r\n"


scopes: list[Scope] = []  # what each request's app was given, in order
bodies: list[bytes] = []  # and the body it received


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    scopes.append(scope)
    bodies.append((await receive())["body"])
    if scope["path"] == "/slow":
        await asyncio.sleep(SLOW)
    await respond(send, 200, BODY, JSON_HEADERS)


class Server(ThreadServer[Any]):
    """The test app on uvicorn in a thread (backends/conftest.py), with the front's protocol
    unless another is given."""

    def __init__(self, protocol: type[asyncio.Protocol] | str | None = None) -> None:
        super().__init__(app, KEEP_ALIVE, http=protocol or guarded_protocol(30.0))

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=5)

    def protocols(self) -> list[Any]:
        return list(self.server.server_state.connections)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(request_limits, "TICK", TICK)
        with Server() as running:
            yield running


def answer(conn: socket.socket, count: int = 1) -> None:
    data = b""
    while data.count(BODY) < count:
        chunk = conn.recv(65536)
        assert chunk, f"closed after {data!r}"
        data += chunk
    assert data.count(b"HTTP/1.1 200 OK") == count


def closed_after(conn: socket.socket, since: float) -> float:
    """Seconds from ``since`` until the server closes ``conn`` (it sends nothing more)."""
    assert conn.recv(65536) == b""
    return time.monotonic() - since


def test_an_idle_connection_closes_after_the_keep_alive(server: Server) -> None:
    with server.connect() as conn:
        conn.sendall(REQUEST % b"fast")
        answer(conn)
        answered = time.monotonic()
        waited = closed_after(conn, answered)
    assert KEEP_ALIVE - EARLY <= waited < KEEP_ALIVE + 4 * TICK + 0.2


def test_a_response_arms_no_timer(server: Server) -> None:
    """Stock uvicorn arms one per response (and the next request cancels it): the cost this
    protocol saves."""
    with server.connect() as conn:
        conn.sendall(REQUEST % b"fast")
        answer(conn)
        time.sleep(TICK)
        protocols = server.protocols()
        assert protocols and all(p.timeout_keep_alive_task is None for p in protocols)
        assert all(p.idle_since is not None for p in protocols)


def test_each_request_starts_the_keep_alive_over(server: Server) -> None:
    with server.connect() as conn:
        began = time.monotonic()
        while time.monotonic() - began < 3 * KEEP_ALIVE:
            conn.sendall(REQUEST % b"fast")
            answer(conn)
            time.sleep(KEEP_ALIVE / 2)
        conn.sendall(REQUEST % b"fast")
        answer(conn)


def test_a_response_slower_than_the_keep_alive_is_not_cut(server: Server) -> None:
    with server.connect() as conn:
        conn.sendall(REQUEST % b"fast")
        answer(conn)
        conn.sendall(REQUEST % b"slow")  # served for longer than the keep-alive
        answer(conn)
        assert closed_after(conn, time.monotonic()) >= KEEP_ALIVE - EARLY


def test_a_request_being_read_is_not_idle(server: Server) -> None:
    """A head begun before the keep-alive ran out is the slow-client limit's (30 s here)."""
    with server.connect() as conn:
        conn.sendall(REQUEST % b"fast")
        answer(conn)
        head = REQUEST % b"fast"
        conn.sendall(head[:10])
        time.sleep(KEEP_ALIVE + 4 * TICK)
        conn.sendall(head[10:])
        answer(conn)


def test_pipelined_requests_are_all_answered_then_the_connection_idles(server: Server) -> None:
    with server.connect() as conn:
        conn.sendall(REQUEST % b"slow" + REQUEST % b"fast")
        answer(conn, 2)
        waited = closed_after(conn, time.monotonic())
    assert KEEP_ALIVE - EARLY <= waited < KEEP_ALIVE + 4 * TICK + 0.2


def test_the_scope_is_the_one_stock_uvicorn_gives(server: Server) -> None:
    """on_message_begin and on_header are uvicorn's, inlined: a request's scope is the same as
    behind stock uvicorn (but for the ports), its headers lower-cased and stripped alike."""
    head = (
        b"POST /mcp/%C3%A9?q=1 HTTP/1.1\r\nHost: t\r\nX-Trailing: v \t\r\n"
        b"Accept: application/json\r\ncontent-length: 0\r\n\r\n"
    )
    seen = []
    with Server(HttpToolsProtocol) as stock:
        for running in (server, stock):
            with running.connect() as conn:
                conn.sendall(head)
                answer(conn)
            scope = dict(scopes[-1])
            assert scope.pop("client")[0] == "127.0.0.1"
            assert scope.pop("server") == ("127.0.0.1", running.port)
            seen.append(scope)
    assert seen[0] == seen[1]
    assert seen[0]["headers"][1] == (b"x-trailing", b"v")


@pytest.mark.parametrize(
    ("version", "extra", "kept"),
    [
        (b"1.1", b"", True),
        (b"1.1", b"connection: close\r\n", False),
        (b"1.0", b"", False),
        (b"1.0", b"connection: keep-alive\r\n", False),  # uvicorn keeps no HTTP/1.0 alive
    ],
)
def test_keep_alive_and_version_are_stock_uvicorns(
    server: Server, version: bytes, extra: bytes, kept: bool
) -> None:
    """on_headers_complete is uvicorn's, inlined: the same scope version and the same choice to
    keep the connection, as stock uvicorn makes."""
    head = b"POST /fast HTTP/%s\r\nhost: t\r\ncontent-length: 0\r\n%s\r\n" % (version, extra)
    with Server(HttpToolsProtocol) as stock:
        for running in (server, stock):
            with running.connect() as conn:
                conn.sendall(head)
                answer(conn)
                conn.settimeout(KEEP_ALIVE / 2)  # a kept connection stays open past this
                try:
                    closed = conn.recv(65536) == b""
                except TimeoutError:
                    closed = False
            assert closed is not kept
            assert scopes[-1]["http_version"] == version.decode()


def whole_reads(patch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each read the protocol offered to whole_request was one whole request."""
    found: list[bool] = []

    def counted(data: bytes, max_head: int, max_headers: int) -> Any:
        whole = request_limits.__dict__["_whole_request"](data, max_head, max_headers)
        found.append(whole is not None)
        return whole

    patch.setattr(request_limits, "_whole_request", request_limits.whole_request, raising=False)
    patch.setattr(request_limits, "whole_request", counted)
    return found


def test_a_post_read_whole_gets_the_scope_and_body_stock_uvicorn_gives(server: Server) -> None:
    """The one-call reader (whole_request) gives the app what httptools' callbacks would."""
    body = b'{"jsonrpc":"2.0","id":1,"method":"ping"}'
    head = (
        b"POST /mcp?q=1 HTTP/1.1\r\nHost: t\r\nX-Trailing: v \t\r\nMcp-Session-Id:  s1\r\n"
        b"Accept: application/json\r\ncontent-length: %d\r\n\r\n" % len(body)
    )
    seen = []
    with pytest.MonkeyPatch.context() as patch, Server(HttpToolsProtocol) as stock:
        found = whole_reads(patch)
        for running in (server, stock):
            with running.connect() as conn:
                conn.sendall(head + body)
                answer(conn)
            scope = dict(scopes[-1])
            assert scope.pop("client")[0] == "127.0.0.1"
            assert scope.pop("server") == ("127.0.0.1", running.port)
            seen.append((scope, bodies[-1]))
    assert found == [True]
    assert seen[0] == seen[1]
    assert seen[0][1] == body
    assert seen[0][0]["headers"][1:3] == [(b"x-trailing", b"v"), (b"mcp-session-id", b"s1")]


def test_a_read_inside_a_request_goes_to_httptools(server: Server) -> None:
    """A head split where its rest looks like a whole request of its own (a header value that
    reads as a request line) is one request, /fast, with that header."""
    first = b"POST /fast HTTP/1.1\r\nhost: t\r\nx-note: "
    rest = b"POST /slow HTTP/1.1\r\ncontent-length: 0\r\n\r\n"
    with pytest.MonkeyPatch.context() as patch, server.connect() as conn:
        found = whole_reads(patch)
        conn.sendall(first)
        time.sleep(0.1)  # two reads
        conn.sendall(rest)
        answer(conn)
    assert found == [False]  # the first read only: the second came inside the request
    assert scopes[-1]["path"] == "/fast"
    assert dict(scopes[-1]["headers"])[b"x-note"] == b"POST /slow HTTP/1.1"
