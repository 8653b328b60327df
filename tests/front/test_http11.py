"""The HTTP/1.1 protocol of the front: a sized response leaves in one TCP segment; streams,
HEAD, ``100 Continue`` and an unfinished response go out as uvicorn writes them.

A real uvicorn server (uvloop, our protocol class) in a thread, real sockets as clients; the
segment count is the kernel's own (TCP_INFO ``tcpi_data_segs_in`` of the client socket).
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from only1mcp.front.http11 import TASK_NAME, OneWriteProtocol, body_received, http_protocol
from only1mcp.front.wire import JSON_HEADERS, read_body, respond
from only1mcp.types import Receive, Scope, Send

DATA_SEGS_IN = 152  # offset of tcpi_data_segs_in in struct tcp_info (Linux >= 4.6)
BODY = b'{"jsonrpc":"2.0","id":1,"result":{}}'


class App:
    """Responses of every shape the protocol treats differently."""

    def __init__(self) -> None:
        self.release: asyncio.Event | None = None
        self.wrapped = 0  # messages that went through a wrapped send
        self.task_names: list[str] = []
        self.reads: list[tuple[bytes, tuple[bytes, bool, bool], bool]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        task = asyncio.current_task()
        self.task_names.append(task.get_name() if task is not None else "")
        if path == "/stream":
            self.release = asyncio.Event()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await self.release.wait()
            await send({"type": "http.response.body", "body": b"event", "more_body": False})
            return
        if path in ("/read", "/read-wrapped"):  # the front's body (body_received)
            await self.read(receive, wrapped=path == "/read-wrapped")
            await respond(send, 200, BODY, JSON_HEADERS)
            return
        if path in ("/whole", "/wrapped"):  # the front's JSON answer (answer_whole)
            if path == "/wrapped":  # a middleware's send: the ASGI way
                inner = send

                async def send(message: Any) -> None:
                    self.wrapped += 1
                    await inner(message)

            await respond(send, 200, BODY, JSON_HEADERS)
            return
        body = (await receive())["body"] if path == "/echo" else BODY
        length = [(b"content-length", b"%d" % len(body))]
        if path == "/empty":
            empty = [(b"content-length", b"0")]
            await send({"type": "http.response.start", "status": 202, "headers": empty})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.start", "status": 200, "headers": length})
        if path != "/unfinished":
            await send({"type": "http.response.body", "body": body})

    async def read(self, receive: Receive, wrapped: bool) -> None:
        """The body straight from the cycle (body_received, else read_body: the front's way)
        or, ``wrapped`` as behind a middleware, through uvicorn's receive; what was read, the
        state the cycle was left in and whether it came straight are kept."""
        cycle = receive.__self__  # type: ignore[attr-defined]
        if wrapped:

            async def counted() -> Any:
                self.wrapped += 1
                return await receive()

            body, straight = await read_body(counted), False
        else:
            taken = body_received(receive)
            body, straight = (
                (taken, True) if taken is not None else (await read_body(receive), False)
            )
        left = (bytes(cycle.body), cycle.more_body, cycle.message_event.is_set())
        self.reads.append((body, left, straight))


class Server:
    def __init__(self) -> None:
        self.app = App()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.sock = sock
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, loop="uvloop", http=OneWriteProtocol, lifespan="off", log_level="critical"
        )
        self.server = uvicorn.Server(config)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import uvloop

        self.loop = uvloop.new_event_loop()
        self.loop.run_until_complete(self.server.serve([self.sock]))

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def release_stream(self) -> None:
        assert self.loop is not None and self.app.release is not None
        self.loop.call_soon_threadsafe(self.app.release.set)

    def connect(self) -> socket.socket:
        conn = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with Server() as running:
        yield running


def segments_in(conn: socket.socket) -> int:
    info = conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    return int(struct.unpack_from("I", info, DATA_SEGS_IN)[0])


def request(method: str, path: str, body: bytes = b"", extra: str = "") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nhost: t\r\ncontent-length: {len(body)}\r\n{extra}\r\n"
    return head.encode() + body


def read_response(conn: socket.socket, until: bytes) -> bytes:
    data = b""
    while not data.endswith(until):
        chunk = conn.recv(65536)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    return data


def settle() -> None:
    time.sleep(0.05)  # a second segment, if any, would have arrived by now on loopback


def test_the_installed_uvicorn_gets_the_one_write_protocol() -> None:
    assert http_protocol() is OneWriteProtocol


@pytest.mark.parametrize("path", ["/sized", "/empty"])
def test_a_sized_response_is_one_segment(server: Server, path: str) -> None:
    with server.connect() as conn:
        for _ in range(3):  # each response on a kept-alive connection, not just the first
            before = segments_in(conn)
            conn.sendall(request("POST", path))
            data = read_response(conn, BODY if path == "/sized" else b"\r\n\r\n")
            settle()
            assert segments_in(conn) - before == 1, data
            assert data.startswith(b"HTTP/1.1 200 OK" if path == "/sized" else b"HTTP/1.1 202")


def test_a_stream_head_is_not_held_back(server: Server) -> None:
    with server.connect() as conn:
        conn.sendall(request("GET", "/stream"))
        head = read_response(conn, b"\r\n\r\n")
        assert b"transfer-encoding: chunked" in head
        server.release_stream()
        assert read_response(conn, b"0\r\n\r\n").startswith(b"5\r\nevent\r\n")


def test_head_request_gets_its_head_and_the_connection_goes_on(server: Server) -> None:
    with server.connect() as conn:
        conn.sendall(request("HEAD", "/sized"))
        head = read_response(conn, b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK") and b"content-length: %d" % len(BODY) in head
        conn.sendall(request("POST", "/sized"))
        assert read_response(conn, BODY).startswith(b"HTTP/1.1 200 OK")


def test_continue_goes_out_before_the_body_is_sent(server: Server) -> None:
    with server.connect() as conn:
        body = b'{"big":"request"}'
        head = request("POST", "/echo", extra="expect: 100-continue\r\n")
        conn.sendall(head.replace(b"content-length: 0", b"content-length: %d" % len(body)))
        assert read_response(conn, b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
        conn.sendall(body)
        response = read_response(conn, body)
        assert response.startswith(b"HTTP/1.1 200 OK") and response.endswith(b"\r\n\r\n" + body)


def test_an_unfinished_response_still_gets_its_head_before_the_close(server: Server) -> None:
    with server.connect() as conn:
        conn.sendall(request("POST", "/unfinished"))
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
        assert data.startswith(b"HTTP/1.1 200 OK") and data.endswith(b"\r\n\r\n")


@pytest.mark.parametrize("path", ["/whole", "/wrapped"])
def test_a_json_answer_is_one_segment_with_uvicorns_headers(server: Server, path: str) -> None:
    before_wrapped = server.app.wrapped
    with server.connect() as conn:
        for _ in range(3):
            before = segments_in(conn)
            conn.sendall(request("POST", path))
            data = read_response(conn, BODY)
            settle()
            assert segments_in(conn) - before == 1, data
            head, _, body = data.partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            assert lines[0] == b"HTTP/1.1 200 OK" and body == BODY
            assert b"content-type: application/json" in lines
            assert b"content-length: %d" % len(BODY) in lines
            assert any(line.startswith(b"date: ") for line in lines)
    assert server.app.wrapped - before_wrapped == (6 if path == "/wrapped" else 0)


def test_a_json_answer_to_a_closing_client_says_so_and_closes(server: Server) -> None:
    with server.connect() as conn:
        conn.sendall(request("POST", "/whole", extra="connection: close\r\n"))
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
        assert b"\r\nconnection: close\r\n" in data and data.endswith(b"\r\n\r\n" + BODY)


def test_a_request_runs_in_a_task_named_once_for_all(server: Server) -> None:
    """Named by us: CPython 3.11 formats a "Task-<n>" name for every unnamed task."""
    with server.connect() as conn:
        conn.sendall(request("POST", "/whole"))
        read_response(conn, BODY)
    assert server.app.task_names[-1] == TASK_NAME


@pytest.mark.parametrize("size", [0, 100, 200_000])
def test_a_body_read_from_the_cycle_is_the_one_receive_hands_over(
    server: Server, size: int
) -> None:
    """body_received (the app's receive is the cycle's own) against uvicorn's receive (behind a
    wrapper): the same body, the cycle left alike; a body past uvicorn's high-water mark
    pauses reading and comes the ASGI way in both."""
    body = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    reads = []
    for path in ("/read", "/read-wrapped"):
        with server.connect() as conn:
            head = request("POST", path).replace(b"content-length: 0", b"content-length: %d" % size)
            conn.sendall(head + body)
            assert read_response(conn, BODY).startswith(b"HTTP/1.1 200 OK")
        reads.append(server.app.reads[-1])
    (direct, left, straight), (wrapped, wrapped_left, _) = reads
    assert direct == wrapped == body and left == wrapped_left == (b"", False, False)
    assert straight == (size <= 65536)
