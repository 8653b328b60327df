"""Which era a backend speaks, found against real servers of each kind.

* the SDK's stdio loop (``fixture_server.py``) serves both eras and settles on the first
  message: probed, it is a 2026-07-28 server (no initialize);
* the conformance fixture's stdio loop is handshake-only (-32601 to ``server/discover``), and
  over HTTP it refuses 2026 traffic with HTTP 400 / -32600: both fall back to initialize;
* ``preinit_silent_server.py`` never answers a request sent before initialize: the stdio probe
  is written together with initialize, so it costs no wait;
* ``protocol: handshake`` skips the probe, ``protocol: 2026-07-28`` refuses the fallback.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from only1mcp.backends import BackendState
from only1mcp.backends.http import HttpBackend
from only1mcp.backends.stdio import StdioBackend
from only1mcp.config import HttpServerConfig, Protocol, StdioServerConfig
from only1mcp.errors import BackendError

from .conftest import FixtureServer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
pytestmark = pytest.mark.anyio


def _stdio(script: str, *args: str, protocol: Protocol = Protocol.AUTO) -> StdioBackend:
    argv = [str(FIXTURES / script), *args]
    config = StdioServerConfig(command=sys.executable, args=argv, timeout=10, protocol=protocol)
    return StdioBackend("b", config)


async def _echo(backend: StdioBackend | HttpBackend, tool: str = "echo") -> object:
    result = await backend.call("tools/call", {"name": tool, "arguments": {"text": "hi"}})
    assert isinstance(result, dict)
    return result["content"][0]["text"]


async def test_a_two_era_stdio_server_is_spoken_to_statelessly() -> None:
    backend = _stdio("fixture_server.py")
    await backend.start()
    try:
        assert backend.stateless and backend.version == "2026-07-28"
        assert backend.init_result["serverInfo"]["name"] == "fixture"  # from discover's _meta
        assert "tools" in backend.capabilities
        assert await _echo(backend) == "hi"
    finally:
        await backend.close()


async def test_a_handshake_only_stdio_server_gets_initialize() -> None:
    backend = _stdio("conformance_server.py", "--transport", "stdio")
    await backend.start()
    try:
        assert not backend.stateless and backend.version == "2025-11-25"
        assert backend.init_result["serverInfo"]["name"] == "only1mcp-conformance-fixture"
        result = await backend.call("tools/call", {"name": "test_simple_text", "arguments": {}})
        assert "simple text" in result["content"][0]["text"]
    finally:
        await backend.close()


async def test_a_server_silent_before_initialize_costs_no_probe_wait() -> None:
    backend = _stdio("preinit_silent_server.py")
    started = time.monotonic()
    await backend.start()
    try:
        assert time.monotonic() - started < 2.0  # its timeout is 10 s: nothing waited for it
        assert not backend.stateless
        assert await _echo(backend) == "hi"
        assert "got server/discover" in backend.stderr_tail
    finally:
        await backend.close()


async def test_protocol_handshake_sends_no_probe() -> None:
    backend = _stdio("preinit_silent_server.py", protocol=Protocol.HANDSHAKE)
    await backend.start()
    try:
        assert not backend.stateless
        assert await _echo(backend) == "hi"
        assert list(backend.stderr_tail)[:2] == ["got initialize", "got notifications/initialized"]
    finally:
        await backend.close()


async def test_protocol_2026_refuses_a_handshake_only_server() -> None:
    backend = _stdio("conformance_server.py", "--transport", "stdio", protocol=Protocol.STATELESS)
    with pytest.raises(BackendError, match="does not speak MCP 2026-07-28"):
        await backend.start()
    assert backend.state is BackendState.DOWN
    await backend.close()


@pytest.fixture
def handshake_http() -> Iterator[FixtureServer]:
    with FixtureServer("http", FIXTURES / "conformance_server.py") as fixture:
        yield fixture


async def test_an_http_server_refusing_2026_falls_back(handshake_http: FixtureServer) -> None:
    backend = HttpBackend("c", HttpServerConfig(url=handshake_http.url, timeout=10))
    await backend.start()
    try:
        assert not backend.stateless and backend.session_id
        result = await backend.call("tools/call", {"name": "test_simple_text", "arguments": {}})
        assert "simple text" in result["content"][0]["text"]
    finally:
        await backend.close()


async def test_a_2026_http_server_answers_errors_as_frames(handshake_http: FixtureServer) -> None:
    """Told to speak 2026 only, a handshake server's 400 is a refusal, not a fallback."""
    config = HttpServerConfig(url=handshake_http.url, timeout=10, protocol=Protocol.STATELESS)
    backend = HttpBackend("c", config)
    with pytest.raises(BackendError, match=r"does not speak MCP 2026-07-28.*-32600"):
        await backend.start()
    await backend.close()
