"""The Streamable HTTP backend against the SDK fixture server in a real process."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from only1mcp.backends import BackendState
from only1mcp.backends.http import HttpBackend
from only1mcp.config import HttpServerConfig, Protocol
from only1mcp.errors import BackendError

FIXTURE = str(Path(__file__).resolve().parents[1] / "fixtures" / "fixture_server.py")
pytestmark = pytest.mark.anyio


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class FixtureHttp:
    """An SDK fixture server over HTTP on a free port: ``script *args --port N``."""

    def __init__(self, script: str | Path = FIXTURE, *args: str) -> None:
        self.argv = [sys.executable, str(script), *(args or ("--transport", "http"))]
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [*self.argv, "--port", str(self.port)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + 30
        while time.monotonic() < end:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise AssertionError("fixture server did not listen")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def server() -> Iterator[FixtureHttp]:
    fixture = FixtureHttp()
    fixture.start()
    try:
        yield fixture
    finally:
        fixture.stop()


async def _echo(backend: HttpBackend, text: str) -> str:
    result = await backend.call("tools/call", {"name": "echo", "arguments": {"text": text}})
    return str(result["content"][0]["text"])


@pytest.mark.parametrize("protocol", [Protocol.AUTO, Protocol.HANDSHAKE])
async def test_call_and_structured_content(server: FixtureHttp, protocol: Protocol) -> None:
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


async def test_forgotten_session_reinitializes(server: FixtureHttp) -> None:
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
    url = f"http://127.0.0.1:{_free_port()}/mcp"
    backend = HttpBackend("web", HttpServerConfig(url=url, timeout=5))
    with pytest.raises(BackendError, match="'web' is unreachable"):
        await backend.start()
    assert backend.state is BackendState.DOWN
    await backend.close()


async def test_abandoned_call_ends_at_once(server: FixtureHttp) -> None:
    import asyncio

    from only1mcp.errors import RequestCancelled

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
