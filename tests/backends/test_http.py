"""The Streamable HTTP backend against the SDK fixture server in a real process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from only1mcp.backends import BackendState
from only1mcp.backends.http import HttpBackend
from only1mcp.config import HttpServerConfig, Protocol
from only1mcp.errors import BackendError, RequestCancelled

from .conftest import FixtureServer, free_port

pytestmark = pytest.mark.anyio


@pytest.fixture
def server() -> Iterator[FixtureServer]:
    fixture = FixtureServer("http")
    fixture.start()
    try:
        yield fixture
    finally:
        fixture.stop()


async def _echo(backend: HttpBackend, text: str) -> str:
    result = await backend.call("tools/call", {"name": "echo", "arguments": {"text": text}})
    return str(result["content"][0]["text"])


@pytest.mark.parametrize("protocol", [Protocol.AUTO, Protocol.HANDSHAKE])
async def test_call_and_structured_content(server: FixtureServer, protocol: Protocol) -> None:
    """The SDK fixture speaks both eras: probed, it is a 2026 server (no session); told
    ``protocol: handshake``, it gets initialize and a session."""
    config = HttpServerConfig(url=server.url, timeout=10, protocol=protocol)
    backend = HttpBackend("web", config)
    await backend.start()
    try:
        assert backend.modern is (protocol is Protocol.AUTO)
        assert bool(backend.session_id) is not backend.modern
        assert backend.capabilities["tools"]
        assert await _echo(backend, "hi") == "hi"
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
        assert await _echo(backend, "again") == "again"
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
        call = asyncio.ensure_future(backend.forward(frame, req_id, "tools/call"))
        await asyncio.sleep(0.3)
        started = time.monotonic()
        backend.abandon(req_id)
        with pytest.raises(RequestCancelled):
            await call
        assert time.monotonic() - started < 1.0
        assert await _echo(backend, "after") == "after"
    finally:
        await backend.close()
