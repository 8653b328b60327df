"""The Streamable HTTP backend against the SDK fixture servers in real processes, and against a
recording server on uvicorn."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from fixtures import tool_started

from only1mcp.backends import BackendState, Wiring
from only1mcp.backends.base import STREAM_BREAK, Outbound
from only1mcp.backends.http import HttpBackend
from only1mcp.config import HttpServerConfig, Protocol
from only1mcp.errors import BackendError, BackendTimeout, RequestCancelled
from only1mcp.types import Receive, Scope, Send

from .conftest import FIXTURE, FixtureServer, ThreadServer, echo, free_port

FIXTURES = Path(FIXTURE).parent

pytestmark = pytest.mark.anyio


@pytest.fixture
def server() -> Iterator[FixtureServer]:
    with FixtureServer("http") as fixture:
        yield fixture


@pytest.mark.parametrize("protocol", [Protocol.AUTO, Protocol.HANDSHAKE])
async def test_call_and_structured_content(server: FixtureServer, protocol: Protocol) -> None:
    """The SDK fixture speaks both eras: probed, it is a 2026 server (no session); told
    ``protocol: handshake``, it gets initialize and a session."""
    config = HttpServerConfig(url=server.url, timeout=10, protocol=protocol)
    backend = HttpBackend("web", config)
    await backend.start()
    try:
        assert backend.stateless is (protocol is Protocol.AUTO)
        assert bool(backend.session_id) is not backend.stateless
        assert backend.capabilities["tools"]
        assert await echo(backend, "hi") == "hi"
        result = await backend.call("tools/call", {"name": "add", "arguments": {"a": 2, "b": 3}})
        assert result["structuredContent"] == {"result": 5}
    finally:
        await backend.close()


async def test_forgotten_session_reinitializes(server: FixtureServer) -> None:
    config = HttpServerConfig(url=server.url, timeout=10, protocol=Protocol.HANDSHAKE)
    backend = HttpBackend("web", config)
    await backend.start()
    try:
        first = backend.session_id
        server.stop()
        server.start()  # a new process: our session id is unknown to it (404)
        assert await echo(backend, "again") == "again"
        assert backend.session_id and backend.session_id != first
        assert backend.state is BackendState.READY
    finally:
        await backend.close()


async def test_unreachable_server_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/mcp"
    backend = HttpBackend("web", HttpServerConfig(url=url, timeout=5))
    with pytest.raises(BackendError, match="'web' is unreachable"):
        await backend.start()
    assert backend.state is BackendState.DOWN
    await backend.close()


async def test_abandoned_call_ends_at_once(server: FixtureServer) -> None:
    config = HttpServerConfig(url=server.url, timeout=10, protocol=Protocol.HANDSHAKE)
    backend = HttpBackend("web", config)
    await backend.start()
    try:
        req_id = backend.next_id()
        frame = (
            b'{"jsonrpc":"2.0","id":%d,"method":"tools/call",'
            b'"params":{"name":"sleep","arguments":{"seconds":30}}}' % req_id
        )
        call = asyncio.ensure_future(backend.forward(Outbound(frame, req_id, "tools/call")))
        await tool_started(server.started)
        started = time.monotonic()
        backend.abandon(req_id)
        with pytest.raises(RequestCancelled):
            await call
        assert time.monotonic() - started < 1.0
        assert await echo(backend, "after") == "after"
    finally:
        await backend.close()


async def test_a_call_past_its_timeout_is_a_timeout_and_the_backend_goes_on(
    server: FixtureServer,
) -> None:
    config = HttpServerConfig(url=server.url, timeout=10, protocol=Protocol.HANDSHAKE)
    backend = HttpBackend("web", config)
    await backend.start()
    try:
        params = {"name": "sleep", "arguments": {"seconds": 30}}
        started = time.monotonic()
        with pytest.raises(BackendTimeout, match=r"did not answer tools/call within 0\.5s"):
            await backend.request("tools/call", params, timeout=0.5)
        assert time.monotonic() - started < 2.0
        assert await echo(backend, "after") == "after"
        assert backend.state is BackendState.READY
    finally:
        await backend.close()


class McpApp:
    """A handshake-era server that records every request; ``tools/call`` of ``chatty`` answers
    as an SSE stream carrying a log notification and a roots/list request before the answer."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict[str, str]]] = []  # (HTTP method, RPC method, headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        body = (await receive())["body"]
        msg = orjson.loads(body) if body else {}
        self.seen.append((scope["method"], msg.get("method", ""), headers))
        start = {"type": "http.response.start", "status": 200}
        if scope["method"] == "GET":  # no standalone stream here
            await send({**start, "status": 405, "headers": [(b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        if scope["method"] == "DELETE" or "id" not in msg:
            await send({**start, "status": 202, "headers": [(b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        result: dict[str, object] = {"content": [{"type": "text", "text": "ok"}]}
        if msg["method"] == "initialize":
            result = {"protocolVersion": "2025-11-25", "capabilities": {"tools": {}}}
            result["serverInfo"] = {"name": "rec", "version": "1"}
        answer = orjson.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": result})
        if msg.get("params", {}).get("name") != "chatty":
            sized = [(b"content-length", b"%d" % len(answer)), (b"mcp-session-id", b"s-1")]
            await send({**start, "headers": [(b"content-type", b"application/json"), *sized]})
            await send({"type": "http.response.body", "body": answer})
            return
        await send({**start, "headers": [(b"content-type", b"text/event-stream")]})
        log_note = b'{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info"}}'
        roots = b'{"jsonrpc":"2.0","id":"r1","method":"roots/list"}'
        for frame in (log_note, roots, answer):
            event = b"event: message\r\ndata: " + frame + b"\r\n\r\n"
            await send({"type": "http.response.body", "body": event, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


@pytest.fixture
def recorder() -> Iterator[ThreadServer[McpApp]]:
    with ThreadServer(McpApp(), keep_alive=0.2) as running:
        yield running


async def test_headers_stream_messages_and_session_end(recorder: ThreadServer[McpApp]) -> None:
    """Static headers go with every request; messages on a call's stream go to its sink (or,
    without one, to on_message) before the answer; the session is DELETEd on close; a
    connection the server closed while idle is replaced."""
    unsolicited: list[bytes] = []

    async def on_message(backend: object, frame: bytes) -> None:
        unsolicited.append(frame)

    config = HttpServerConfig(
        url=recorder.url("/mcp"), headers={"Authorization": "Bearer k"}, protocol=Protocol.HANDSHAKE
    )
    backend = HttpBackend("rec", config, Wiring(on_message))
    await backend.start()
    sunk: list[bytes] = []

    async def sink(frame: bytes) -> None:
        sunk.append(frame)

    try:
        params = {"name": "chatty", "arguments": {}}
        answer = orjson.loads(await backend.request("tools/call", params, sink=sink))
        assert answer["result"]["content"][0]["text"] == "ok"
        assert sunk_methods(sunk) == ["notifications/message", "roots/list"]
        await asyncio.sleep(0.5)  # past the server's keep-alive: it closed our idle connection
        await backend.call("tools/call", params)
        assert sunk_methods(unsolicited) == sunk_methods(sunk)
    finally:
        await backend.close()
    methods = [(http, rpc) for http, rpc, _ in recorder.app.seen if http != "GET"]
    gets = [h for http, _, h in recorder.app.seen if http == "GET"]
    assert [h["accept"] for h in gets] == ["text/event-stream"]  # asked once: the 405 stands
    assert methods == [
        ("POST", "initialize"),
        ("POST", "notifications/initialized"),
        ("POST", "tools/call"),
        ("POST", "tools/call"),
        ("DELETE", ""),
    ]
    assert all(h["authorization"] == "Bearer k" for _, _, h in recorder.app.seen)
    assert all(h["mcp-session-id"] == "s-1" for _, _, h in recorder.app.seen[1:])


def sunk_methods(frames: list[bytes]) -> list[str]:
    return [orjson.loads(f)["method"] for f in frames]


async def test_a_stream_closed_mid_call_is_resumed() -> None:
    """SEP-1699: the SDK server closes the call's SSE stream; the backend tells the sink
    (STREAM_BREAK) and resumes with GET + Last-Event-ID, where the answer comes."""
    sunk: list[bytes] = []

    async def sink(frame: bytes) -> None:
        sunk.append(frame)

    with FixtureServer("http", FIXTURES / "conformance_server.py") as fixture:
        config = HttpServerConfig(url=fixture.url, timeout=20, protocol=Protocol.HANDSHAKE)
        backend = HttpBackend("c", config)
        try:
            await backend.start()
            params = {"name": "test_reconnection", "arguments": {}}
            answer = orjson.loads(await backend.request("tools/call", params, sink=sink))
            assert "Reconnection test completed" in answer["result"]["content"][0]["text"]
            assert STREAM_BREAK in sunk
            logs = [orjson.loads(f)["params"]["data"] for f in sunk if f]
            assert logs == ["Before disconnect", "After reconnect"]
        finally:
            await backend.close()
        fixture.stop()


class StandaloneApp(McpApp):
    """:class:`McpApp` with a standalone GET stream that the server ends after each event:
    first a log notification, then (resumed after ``Last-Event-ID``) a roots/list request and a
    stray response; then no more stream (405)."""

    def __init__(self) -> None:
        super().__init__()
        self.resumed_after: list[str | None] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await super().__call__(scope, receive, send)
            return
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.resumed_after.append(headers.get("last-event-id"))
        events = {
            1: b'retry: 50\nid: e1\ndata: {"jsonrpc":"2.0","method":"notifications/message",'
            b'"params":{"level":"info","data":"hello"}}\n\n',
            2: b'id: e2\ndata: {"jsonrpc":"2.0","id":"r1","method":"roots/list"}\n\n'
            b'data: {"jsonrpc":"2.0","id":7,"result":{}}\n\n',
        }.get(len(self.resumed_after))
        if events is None:
            await send({"type": "http.response.start", "status": 405, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        stream = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": stream})
        await send({"type": "http.response.body", "body": events})


async def test_the_standalone_stream_is_followed_and_resumed() -> None:
    """A handshake-era session follows the server's GET stream: what comes on it goes to
    on_message (a response there is dropped); when the server ends it, it is reopened after
    the server's ``retry`` with ``Last-Event-ID``; a 405 ends the following."""
    unsolicited: list[bytes] = []

    async def on_message(backend: object, frame: bytes) -> None:
        unsolicited.append(frame)

    with ThreadServer(StandaloneApp()) as running:
        config = HttpServerConfig(url=running.url("/mcp"), protocol=Protocol.HANDSHAKE)
        backend = HttpBackend("rec", config, Wiring(on_message))
        await backend.start()
        try:
            for _ in range(100):
                if len(running.app.resumed_after) == 3:
                    break
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.1)
            assert running.app.resumed_after == [None, "e1", "e2"]
            assert sunk_methods(unsolicited) == ["notifications/message", "roots/list"]
            assert backend.state is BackendState.READY
        finally:
            await backend.close()
