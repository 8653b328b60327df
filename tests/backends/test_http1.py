"""The HTTP/1.1 client of the HTTP backends against real servers on 127.0.0.1.

A uvicorn app (in a thread, its own loop) for well-behaved answers: keep-alive reuse, the
pool's bound, chunked and sized bodies, SSE written in pieces, timeouts. Raw asyncio servers
in the test's loop for the misbehaving ones: a kept-alive connection closed under a request,
a body cut short, a body delimited by the connection's end, ``100 Continue``, not HTTP at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from only1mcp.backends.eventstream import EventParser
from only1mcp.backends.http1 import HIGH_WATER, MAX_HEADER_SETS, Pool
from only1mcp.types import Receive, Scope, Send

from .conftest import ThreadServer

pytestmark = pytest.mark.anyio

# A priming event, then one split mid-field and between a CR and its LF.
SSE_PIECES = [
    b"id: 1\r\ndata:\r\n\r\n",
    b"event: message\r\nda",
    b'ta: {"a":\r',
    b"\ndata: 1}\r\n\r",
]


class App:
    def __init__(self) -> None:
        self.peers: set[int] = set()  # client ports seen: one per connection
        self.busy = 0
        self.most_busy = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        self.peers.add(scope["client"][1])
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        if path == "/slow":
            self.busy += 1
            self.most_busy = max(self.most_busy, self.busy)
            await asyncio.sleep(float(body or b"0.2"))
            self.busy -= 1
        if path in ("/chunked", "/sse"):
            kind = b"text/event-stream" if path == "/sse" else b"text/plain"
            start = {"type": "http.response.start", "status": 200}
            await send({**start, "headers": [(b"content-type", kind)]})
            for piece in SSE_PIECES if path == "/sse" else [b"a" * 10, b"b" * 20, b"c"]:
                await send({"type": "http.response.body", "body": piece, "more_body": True})
                await asyncio.sleep(0.01)
            await send({"type": "http.response.body", "body": b"\n"})
            return
        if path == "/headers":
            body = orjson.dumps({k.decode(): v.decode() for k, v in scope["headers"]})
        elif path == "/big":
            body = bytes(range(256)) * 4096  # 1 MiB
        headers = [(b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@pytest.fixture
def server() -> Iterator[ThreadServer[App]]:
    with ThreadServer(App()) as running:
        yield running


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return await reader.readexactly(length)


@contextlib.asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[str]:
    """A server whose ``handler(reader, writer, n)`` gets the n-th connection (from 1)."""
    count = 0

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal count
        count += 1
        try:
            await handler(reader, writer, count)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.close()
        await server.wait_closed()


def ok(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n%s\r\n%s" % (len(body), extra, body)


async def call(pool: Pool, body: bytes = b"{}", method: str = "POST") -> tuple[int, bytes]:
    response = await pool.request(method, {"Content-Type": "application/json"}, body)
    try:
        return response.status, await response.read()
    finally:
        response.close()


# ----------------------------------------------------------------------------- uvicorn


async def test_keep_alive_reuses_one_connection(server: ThreadServer[App]) -> None:
    pool = Pool(server.url("/echo"))
    try:
        for i in range(5):
            assert await call(pool, b'{"n":%d}' % i) == (200, b'{"n":%d}' % i)
    finally:
        pool.close()
    assert pool.opened == 1 and len(server.app.peers) == 1


async def test_the_pool_bounds_connections_and_queues_the_rest(server: ThreadServer[App]) -> None:
    pool = Pool(server.url("/slow"), max_connections=2)
    try:
        answers = await asyncio.gather(*(call(pool, b"0.1") for _ in range(6)))
    finally:
        pool.close()
    assert answers == [(200, b"0.1")] * 6
    assert pool.opened == 2 and server.app.most_busy == 2


async def test_static_and_request_headers_are_sent_once(server: ThreadServer[App]) -> None:
    pool = Pool(server.url("/headers"), {"Authorization": "Bearer k"})
    try:
        response = await pool.request("GET", {"Mcp-Session-Id": "s1"})
        seen = orjson.loads(await response.read())
        response.close()
        with pytest.raises(ValueError, match="line break"):
            await pool.request("GET", {"X-Evil": "a\r\nX-Injected: 1"})
    finally:
        pool.close()
    assert seen["authorization"] == "Bearer k" and seen["mcp-session-id"] == "s1"
    assert seen["host"] == f"127.0.0.1:{server.port}"


async def test_encoded_header_sets_follow_their_values_and_stay_bounded(
    server: ThreadServer[App],
) -> None:
    """Each set of request headers is encoded once and kept: a changed value (a new session
    id) is a new set, a bad one raises every time, and the kept sets are bounded."""
    pool = Pool(server.url("/headers"))
    seen = []
    try:
        for sid in ("s1", "s2", "s1"):
            response = await pool.request("GET", {"Mcp-Session-Id": sid})
            seen.append(orjson.loads(await response.read())["mcp-session-id"])
            response.close()
        for _ in range(2):
            with pytest.raises(ValueError, match="line break"):
                pool.request_bytes("GET", {"X-Evil": "a\nX-Injected: 1"})
        for n in range(MAX_HEADER_SETS + 10):
            assert f"X-N: {n}\r\n".encode() in pool.request_bytes("GET", {"X-N": str(n)})
    finally:
        pool.close()
    assert seen == ["s1", "s2", "s1"]
    assert len(pool._lines) <= MAX_HEADER_SETS


async def test_chunked_body_whole_and_piece_by_piece(server: ThreadServer[App]) -> None:
    pool = Pool(server.url("/chunked"))
    try:
        assert await call(pool) == (200, b"a" * 10 + b"b" * 20 + b"c\n")
        response = await pool.request("GET", {})
        pieces = []
        while piece := await response.next_chunk():
            pieces.append(piece)
        response.close()
    finally:
        pool.close()
    assert b"".join(pieces) == b"a" * 10 + b"b" * 20 + b"c\n" and len(pieces) > 1
    assert pool.opened == 1  # a chunked body read to its end leaves the connection reusable


async def test_a_big_sized_body_read_slowly_arrives_whole(server: ThreadServer[App]) -> None:
    pool = Pool(server.url("/big"))
    try:
        response = await pool.request("GET", {})
        await asyncio.sleep(0.3)  # the reader lags: the socket is paused, not buffered
        assert response._size <= HIGH_WATER + 256 * 1024  # one more socket read at most
        body = b""
        while piece := await response.next_chunk():
            body += piece
        response.close()
    finally:
        pool.close()
    assert body == bytes(range(256)) * 4096


async def test_sse_written_in_pieces(server: ThreadServer[App]) -> None:
    pool = Pool(server.url("/sse"))
    try:
        response = await pool.request("POST", {}, b"{}")
        assert response.headers["content-type"] == "text/event-stream"
        parser, events = EventParser(), []
        while piece := await response.next_chunk():
            events += parser.feed(piece)
        response.close()
    finally:
        pool.close()
    assert [(e.data, e.id) for e in events] == [(b"", "1"), (b'{"a":\n1}', "1")]


async def test_a_response_closed_early_is_drained_and_kept(server: ThreadServer[App]) -> None:
    pool = Pool(server.url("/chunked"))
    try:
        response = await pool.request("GET", {})
        assert await response.next_chunk() == b"a" * 10
        response.close()  # the rest follows within ~30 ms: read and dropped
        await asyncio.sleep(0.2)
        assert await call(pool) == (200, b"a" * 10 + b"b" * 20 + b"c\n")
    finally:
        pool.close()
    assert pool.opened == 1


async def test_a_timed_out_request_frees_its_slot(server: ThreadServer[App]) -> None:
    pool = Pool(server.url("/slow"), max_connections=1)
    try:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(call(pool, b"5"), 0.2)
        assert await asyncio.wait_for(call(pool, b"0"), 5) == (200, b"0")
    finally:
        pool.close()
    assert pool.opened == 2  # the cancelled request's connection was out of step: closed


async def test_a_closed_pool_refuses_and_nothing_is_left_open(server: ThreadServer[App]) -> None:
    pool = Pool(server.url("/slow"))
    pending = asyncio.ensure_future(call(pool, b"5"))
    await asyncio.sleep(0.2)
    pool.close()
    with pytest.raises(ConnectionError):
        await pending
    with pytest.raises(ConnectionError, match="closed"):
        await call(pool)


# ------------------------------------------------------------------------- raw servers


async def test_a_kept_alive_connection_closed_under_a_request_is_retried_once() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await read_request(reader)
        writer.write(ok(b"first" if n == 1 else b"fresh"))
        await read_request(reader)  # the second request on a connection: closed unanswered

    async with raw_server(handler) as url:
        pool = Pool(url)
        try:
            assert await call(pool) == (200, b"first")
            assert await call(pool) == (200, b"fresh")
        finally:
            pool.close()
        assert pool.opened == 2


async def test_a_fresh_connection_closed_unanswered_is_an_error() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await read_request(reader)

    async with raw_server(handler) as url:
        pool = Pool(url)
        try:
            with pytest.raises(ConnectionError, match="closed the connection"):
                await call(pool)
        finally:
            pool.close()
        assert pool.opened == 1  # not retried: the request may have been acted on


async def test_a_body_cut_short_is_an_error_not_a_retry() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789")
        await writer.drain()

    async with raw_server(handler) as url:
        pool = Pool(url)
        try:
            response = await pool.request("POST", {}, b"{}")
            with pytest.raises(ConnectionError):
                await response.read()
            response.close()
        finally:
            pool.close()
        assert pool.opened == 1


async def test_a_body_up_to_the_connections_end_and_100_continue() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the end")
        await writer.drain()

    async with raw_server(handler) as url:
        pool = Pool(url)
        try:
            assert await call(pool) == (200, b"until the end")
            assert await call(pool) == (200, b"until the end")
        finally:
            pool.close()
        assert pool.opened == 2


async def test_whole_and_split_answers_alternate_on_one_connection() -> None:
    """A response that arrives whole in one read (sized or chunked) is read in one call; one
    that arrives in pieces goes through the incremental parser. Both keep the connection, in
    any order, with the same status, headers and body."""
    chunked = b"HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\nX-A: 1\r\nx-a: \xe92\r\n\r\n"
    answers = [
        [ok(b'{"n":1}', b"Content-Type: application/json\r\n")],  # whole, sized
        [chunked + b'3\r\n{"n\r\n4\r\n":2}\r\n0\r\n\r\n'],  # whole, chunked
        [ok(b'{"n":3}')[:-3], ok(b'{"n":3}')[-3:]],  # split mid-body
        [chunked, b'7\r\n{"n":4}\r\n0\r\n\r\n'],  # split after the head
        [ok(b"")],  # whole, empty
    ]

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        for pieces in answers:
            await read_request(reader)
            for piece in pieces:
                writer.write(piece)
                await writer.drain()
                await asyncio.sleep(0.02)  # each piece its own read
        await reader.read()

    async with raw_server(handler) as url:
        pool = Pool(url)
        try:
            got = []
            for _ in answers:
                response = await pool.request("POST", {}, b"{}")
                got.append((response.status, response.headers.get("x-a"), await response.read()))
                response.close()
            assert got == [
                (200, None, b'{"n":1}'),
                (201, "\xe92", b'{"n":2}'),
                (200, None, b'{"n":3}'),
                (201, "\xe92", b'{"n":4}'),
                (200, None, b""),
            ]
            assert pool.opened == 1
        finally:
            pool.close()


async def test_a_server_that_does_not_speak_http() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH_9.2\r\n")
        await writer.drain()
        await reader.read()

    async with raw_server(handler) as url:
        pool = Pool(url)
        try:
            with pytest.raises(ConnectionError, match="malformed HTTP response"):
                await call(pool)
        finally:
            pool.close()


async def test_an_unreachable_server_is_an_os_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    pool = Pool(f"http://127.0.0.1:{port}/mcp", max_connections=1)
    for _ in range(3):  # a failed connect gives its slot back
        with pytest.raises(OSError):
            await call(pool)
    pool.close()


def test_only_http_urls() -> None:
    with pytest.raises(ValueError, match="not an http"):
        Pool("ftp://127.0.0.1/x")


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_https_verifies_the_server(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    with ThreadServer(App(), ssl_certfile=str(cert), ssl_keyfile=str(key)) as server:
        url = server.url("/echo")
        assert url.startswith("https://")
        untrusting = Pool(url)  # the default trust store does not know this certificate
        with pytest.raises(ssl.SSLCertVerificationError):
            await call(untrusting)
        untrusting.close()
        trusting = Pool(url, ssl_context=ssl.create_default_context(cafile=str(cert)))
        try:
            assert await call(trusting, b"[1]") == (200, b"[1]")
            assert await call(trusting, b"[2]") == (200, b"[2]")
        finally:
            trusting.close()
        assert trusting.opened == 1
