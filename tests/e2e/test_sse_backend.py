"""A backend on the legacy HTTP+SSE transport (``transport: sse``), end to end.

The SDK fixture server runs as its own process serving MCP 2024-11-05's HTTP+SSE transport
(``/sse`` + ``/messages/``, the SDK's ``SseServerTransport``); ``only1mcp start`` has it as
backend ``old``; the official SDK client talks to Only1MCP over Streamable HTTP at ``/mcp`` — and,
legacy all the way, over Only1MCP's own ``/sse`` front.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.session import ClientRequestContext, ClientSession
from mcp.client.sse import sse_client

from .conftest import (
    CLIENT_READ_TIMEOUT,
    HttpAggregator,
    call_outcome,
    free_port,
    prompt_of,
    running_aggregator,
    sampled,
    spawn_fixture_server,
    stop_server,
    text_of,
    write_config,
)

pytestmark = pytest.mark.anyio

OLD_TIMEOUT = 10.0
"""The ``timeout`` configured for the ``old`` backend (seconds)."""
RECOVERY_DEADLINE = 25.0
"""How long the restarted SSE server may take to be reconnected and answer again."""


@dataclass
class SseServer:
    """The fixture server over HTTP+SSE on a fixed port, so that it can come back there."""

    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/sse"

    def start(self) -> None:
        self.proc = spawn_fixture_server("sse", self.port, self.log, "old")

    def kill(self) -> None:
        proc = self.proc
        assert proc is not None
        proc.kill()
        proc.wait(timeout=10)
        self.proc = None


@pytest.fixture
def sse_server(tmp_path: Path) -> Iterator[SseServer]:
    server = SseServer(free_port(), tmp_path / "fixture-sse.log")
    server.start()
    try:
        yield server
    finally:
        if server.proc is not None:
            stop_server(server.proc)


@pytest.fixture
def aggregator(tmp_path: Path, sse_server: SseServer) -> Iterator[HttpAggregator]:
    old = {"url": sse_server.url, "transport": "sse", "prefix": "old", "timeout": OLD_TIMEOUT}
    config = write_config(tmp_path / "only1mcp.yaml", {"old": old})
    with running_aggregator(config, tmp_path / "only1mcp.log") as agg:
        yield agg


async def sampling(
    context: ClientRequestContext, params: types.CreateMessageRequestParams
) -> types.CreateMessageResult:
    return sampled(f"client says: {prompt_of(params)}", "m")


async def test_an_sse_server_behind_the_streamable_front(aggregator: HttpAggregator) -> None:
    logged: list[str] = []

    async def logging(params: types.LoggingMessageNotificationParams) -> None:
        logged.append(str(params.data))

    async with Client(
        aggregator.url,
        mode="legacy",
        cache=None,
        read_timeout_seconds=CLIENT_READ_TIMEOUT,
        sampling_callback=sampling,
        logging_callback=logging,
    ) as client:
        with anyio.fail_after(OLD_TIMEOUT):
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert {"old__echo", "old__add", "old__sample"} <= names, names
            assert text_of(await client.call_tool("old__echo", {"text": "via sse"})) == "via sse"
            added = await client.call_tool("old__add", {"a": 1, "b": 2})
            assert added.structured_content == {"result": 3}
            # The backend's sampling request and log notification find the caller.
            sampled = await client.call_tool("old__sample", {"prompt": "ping"})
            assert text_of(sampled) == "client says: ping"
            while "sampling: ping" not in logged:
                await anyio.sleep(0.02)


async def test_legacy_all_the_way(aggregator: HttpAggregator) -> None:
    """A 2024-era client on Only1MCP's /sse front, in front of a 2024-era SSE server."""
    async with (
        sse_client(f"{aggregator.base}/sse") as (read, write),
        ClientSession(read, write, sampling_callback=sampling) as session,
    ):
        with anyio.fail_after(OLD_TIMEOUT):
            await session.initialize()
            result = await session.call_tool("old__echo", {"text": "old to old"})
            assert text_of(result) == "old to old"
            assert text_of(await session.call_tool("old__sample", {"prompt": "x"})) == (
                "client says: x"
            )


async def test_killing_the_sse_server_mid_call_errors_and_it_comes_back(
    aggregator: HttpAggregator, sse_server: SseServer
) -> None:
    async with Client(
        aggregator.url, mode="legacy", cache=None, read_timeout_seconds=CLIENT_READ_TIMEOUT
    ) as client:
        outcome: list[tuple[bool, str]] = []
        started = 0.0

        async def slow_call() -> None:
            outcome.append(await call_outcome(client, "old__sleep", {"seconds": 30}))

        with anyio.fail_after(OLD_TIMEOUT):
            async with anyio.create_task_group() as tg:
                tg.start_soon(slow_call)
                await anyio.sleep(0.5)
                started = time.monotonic()
                sse_server.kill()
        ok, text = outcome[0]
        assert not ok and "'old' is down" in text, text
        assert time.monotonic() - started < OLD_TIMEOUT / 2  # the stream's end, not a timeout
        with httpx.Client(timeout=5) as http:
            health = http.get(f"{aggregator.base}/healthz").json()
        assert health["servers"]["old"] == "down", health
        sse_server.start()
        deadline = time.monotonic() + RECOVERY_DEADLINE
        while True:
            ok, text = await call_outcome(client, "old__echo", {"text": "back"})
            if ok or time.monotonic() > deadline:
                break
            await anyio.sleep(0.2)
        assert (ok, text) == (True, "back")
