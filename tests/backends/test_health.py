"""The health monitor on a fake transport: missed pings take a server out of traffic, an
answered one puts it back; the half-open probe is a ping, not a client's request."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from only1mcp.backends.base import Sink
from only1mcp.errors import BackendError, BackendUnavailable
from only1mcp.types import JsonObject

from .fake import FakeServer, fake_config, hang, tool_call

pytestmark = pytest.mark.anyio


async def _until(condition: Callable[[], bool], within: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while not condition():
        assert loop.time() < end, f"not {what} within {within}s"
        await asyncio.sleep(0.01)


async def test_missed_pings_take_the_server_out_of_traffic_until_one_is_answered() -> None:
    health = {"interval": 0.05, "timeout": 0.05, "unhealthy_after": 2}
    backend = FakeServer(config=fake_config(health=health))
    answered = backend.handlers["ping"]
    await backend.start()
    try:
        backend.handlers["ping"] = hang
        await _until(lambda: not backend.healthy, 5, "marked unhealthy")
        assert backend.monitor.failed_pings >= 2
        with pytest.raises(BackendUnavailable, match="did not answer its health checks"):
            await backend.forward(tool_call(backend, "echo"))
        backend.handlers["ping"] = answered
        await _until(lambda: backend.healthy, 5, "healthy again")
        assert backend.problem == ""
    finally:
        await backend.close()


async def test_the_half_open_probe_is_a_ping() -> None:
    async def broken(params: JsonObject, sink: Sink | None) -> JsonObject:
        raise BackendError("the pipe broke")

    config = fake_config(health={"interval": 0.1}, breaker={"failures": 1, "cooldown": 0.05})
    backend = FakeServer(config=config)
    await backend.start()
    backend.handlers["tools/call"] = broken
    try:
        with pytest.raises(BackendError):
            await backend.forward(tool_call(backend, "echo"))
        assert backend.breaker.state in ("open", "half_open")
        calls = sum(m["method"] == "tools/call" for m in backend.sent)
        await _until(lambda: backend.breaker.state == "closed", 5, "closed by the probe")
        assert backend.sent[-1]["method"] == "ping"
        assert sum(m["method"] == "tools/call" for m in backend.sent) == calls
    finally:
        await backend.close()
