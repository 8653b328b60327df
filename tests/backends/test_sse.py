"""The HTTP+SSE backend (MCP 2024-11-05 transport) against the SDK fixture server in a real
process, served by the SDK's own SSE transport."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import orjson
import pytest
from fixtures import tool_started

from only1mcp.backends import Backend, BackendState, Wiring
from only1mcp.backends.base import Outbound
from only1mcp.backends.sse import SseBackend
from only1mcp.config import HttpServerConfig
from only1mcp.errors import BackendError, BackendTimeout, RequestCancelled
from only1mcp.protocol import jsonrpc

from .conftest import FixtureServer, echo, free_port

pytestmark = pytest.mark.anyio


@pytest.fixture
def server() -> Iterator[FixtureServer]:
    with FixtureServer("sse") as fixture:
        yield fixture


def _backend(url: str, timeout: float = 10) -> SseBackend:
    return SseBackend("old", HttpServerConfig(url=url, transport="sse", timeout=timeout))


@pytest.fixture
async def backend(server: FixtureServer) -> AsyncIterator[SseBackend]:
    backend = _backend(server.url)
    await backend.start()
    try:
        yield backend
    finally:
        await backend.close()


def _call(backend: Backend, name: str, **arguments: object) -> tuple[int, bytes]:
    req_id = backend.next_id()
    params = {"name": name, "arguments": arguments}
    return req_id, jsonrpc.request(req_id, "tools/call", params)


async def test_handshake_and_calls_over_the_legacy_transport(
    backend: SseBackend, server: FixtureServer
) -> None:
    assert backend.state is BackendState.READY
    assert backend.init_result["serverInfo"]["name"] == "fixture"
    assert backend.endpoint is not None
    assert backend.endpoint.startswith(f"http://127.0.0.1:{server.port}/messages/?session_id=")
    assert await echo(backend, "hi") == "hi"
    result = await backend.call("tools/call", {"name": "add", "arguments": {"a": 2, "b": 3}})
    assert result["structuredContent"] == {"result": 5}
    # Answers are matched by id, whatever order they arrive in.
    texts = [f"call-{i}" for i in range(20)]
    assert await asyncio.gather(*(echo(backend, t) for t in texts)) == texts


async def test_server_messages_reach_on_message_and_answers_go_back(server: FixtureServer) -> None:
    seen: list[dict[str, object]] = []

    async def on_message(backend: Backend, frame: bytes) -> None:
        msg = orjson.loads(frame)
        seen.append(msg)
        if msg.get("method") == "sampling/createMessage":
            prompt = msg["params"]["messages"][0]["content"]["text"]
            answer = {
                "role": "assistant",
                "model": "m",
                "content": {"type": "text", "text": prompt},
            }
            await backend.notify(jsonrpc.result(msg["id"], {**answer, "stopReason": "endTurn"}))

    backend = SseBackend(
        "old", HttpServerConfig(url=server.url, transport="sse", timeout=10), Wiring(on_message)
    )
    await backend.start()
    try:
        result = await backend.call(
            "tools/call", {"name": "sample", "arguments": {"prompt": "tell me"}}
        )
        assert result["content"][0]["text"] == "tell me"
        methods = [m.get("method") for m in seen]
        assert methods == ["notifications/message", "sampling/createMessage"], seen
        assert seen[0]["params"]["data"] == "sampling: tell me"  # type: ignore[index]
    finally:
        await backend.close()


async def test_a_dropped_stream_fails_the_pending_call_and_the_backend_comes_back(
    backend: SseBackend, server: FixtureServer
) -> None:
    req_id, frame = _call(backend, "sleep", seconds=30)
    call = asyncio.ensure_future(backend.forward(Outbound(frame, req_id, "tools/call")))
    await tool_started(server.started)
    started = time.monotonic()
    server.stop()
    with pytest.raises(BackendError, match="'old' is down"):
        await call
    assert time.monotonic() - started < 3.0  # failed by the stream's end, not by a timeout
    assert backend.state is BackendState.DOWN
    server.start()  # same port: the restart loop finds it again
    deadline = time.monotonic() + 15
    while backend.state is not BackendState.READY and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert backend.state is BackendState.READY, backend.last_error
    assert backend.restarts == 1
    assert await echo(backend, "back") == "back"


async def test_a_slow_answer_is_a_timeout(server: FixtureServer) -> None:
    backend = _backend(server.url, timeout=0.5)
    await backend.start()
    try:
        req_id, frame = _call(backend, "sleep", seconds=5)
        with pytest.raises(BackendTimeout, match=r"did not answer tools/call within 0\.5s"):
            await backend.forward(Outbound(frame, req_id, "tools/call"))
        assert backend.state is BackendState.READY  # a slow call is not a dead server
    finally:
        await backend.close()


async def test_abandoned_call_ends_at_once(backend: SseBackend, server: FixtureServer) -> None:
    req_id, frame = _call(backend, "sleep", seconds=30)
    call = asyncio.ensure_future(backend.forward(Outbound(frame, req_id, "tools/call")))
    await tool_started(server.started)
    started = time.monotonic()
    backend.abandon(req_id)
    with pytest.raises(RequestCancelled):
        await call
    assert time.monotonic() - started < 1.0
    assert await echo(backend, "after") == "after"


async def test_unreachable_server_is_a_clear_error() -> None:
    backend = _backend(f"http://127.0.0.1:{free_port()}/sse", timeout=5)
    with pytest.raises(BackendError, match="'old' is unreachable"):
        await backend.start()
    assert backend.state is BackendState.DOWN
    await backend.close()


async def test_a_streamable_http_url_is_not_an_sse_stream() -> None:
    with FixtureServer("http") as streamable:
        backend = _backend(streamable.url, timeout=5)
        with pytest.raises(BackendError, match=r"answered GET with HTTP 4\d\d .*not an SSE stream"):
            await backend.start()
        assert backend.state is BackendState.DOWN
        await backend.close()


def test_the_endpoint_resolves_against_the_url_and_must_stay_on_its_origin() -> None:
    backend = _backend("http://127.0.0.1:9/mcp/sse")
    assert (
        backend._resolve("/messages/?session_id=ab") == "http://127.0.0.1:9/messages/?session_id=ab"
    )
    assert backend._resolve("messages?x=1") == "http://127.0.0.1:9/mcp/messages?x=1"
    for foreign in ("http://evil.example/messages", "https://127.0.0.1:9/m", "//127.0.0.1:10/m"):
        with pytest.raises(BackendError, match="another origin; refused"):
            backend._resolve(foreign)
