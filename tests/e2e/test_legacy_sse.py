"""The legacy HTTP+SSE front (MCP 2024-11-05): ``GET /sse`` and ``POST /messages?session_id=``.

Driven by the official SDK's own SSE client (``mcp.client.sse.sse_client`` + ``ClientSession``)
and at the wire level with httpx, against a real ``only1mcp start`` whose backends are the SDK
fixture server over stdio: ``fx`` shared, ``iso`` with ``isolation: session``.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import httpx
import mcp_types as types
import orjson
import psutil
import pytest
from httpx_sse import ServerSentEvent, aconnect_sse
from mcp.client.session import ClientRequestContext, ClientSession
from mcp.client.sse import sse_client

from .conftest import HttpAggregator, fx_stdio_server, running_aggregator, sampled, write_config

pytestmark = pytest.mark.anyio

DEADLINE = 20.0
"""Bound on one exchange (the first call to ``iso`` starts that session's backend process)."""
ENDPOINT = re.compile(r"/messages\?session_id=([A-Za-z0-9_-]{43})")
Events = AsyncIterator[ServerSentEvent]


@pytest.fixture(scope="module")
def aggregator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpAggregator]:
    workdir = tmp_path_factory.mktemp("legacy-front")
    iso = {**fx_stdio_server("iso"), "prefix": "iso", "isolation": "session"}
    # fx's `sample` tool asks its client the handshake way (a server→client request), which a
    # server answering at 2026-07-28 may not: speak the handshake era to it.
    fx = {**fx_stdio_server(), "protocol": "handshake"}
    config = write_config(workdir / "only1mcp.yaml", {"fx": fx, "iso": iso})
    with running_aggregator(config, workdir / "only1mcp.log") as agg:
        yield agg


# --------------------------------------------------------------------------- the SDK's client


@contextlib.asynccontextmanager
async def sdk_session(url: str, version: str | None, **callbacks: Any) -> AsyncIterator[Any]:
    """An SDK ``ClientSession`` over ``sse_client``, initialized at ``version`` (None: the SDK's
    own choice, its latest handshake revision); yields (session, initialize result)."""
    async with sse_client(url) as (read, write), ClientSession(read, write, **callbacks) as session:
        with anyio.fail_after(DEADLINE):
            if version is None:
                result = await session.initialize()
            else:
                result = await _initialize_at(session, version)
        yield session, result


async def _initialize_at(session: ClientSession, version: str) -> types.InitializeResult:
    """The SDK's initialize, asking for an older revision (as a 2024 client does)."""
    params = types.InitializeRequestParams(
        protocol_version=version,
        capabilities=types.ClientCapabilities(sampling=types.SamplingCapability()),
        client_info=types.Implementation(name="legacy-client", version="1.0.0"),
    )
    result = await session.send_request(
        types.InitializeRequest(params=params), types.InitializeResult
    )
    session.adopt(result)
    await session.send_notification(types.InitializedNotification())
    return result


@pytest.mark.parametrize("version", ["2024-11-05", None])
async def test_sdk_sse_client_lists_calls_and_is_asked_to_sample(
    aggregator: HttpAggregator, version: str | None
) -> None:
    prompts: list[str] = []
    logged: list[str] = []

    async def sampling(
        context: ClientRequestContext, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        content = params.messages[0].content
        assert isinstance(content, types.TextContent)
        prompts.append(content.text)
        return sampled(f"sampled: {content.text}", "legacy-model")

    async def logging(params: types.LoggingMessageNotificationParams) -> None:
        logged.append(str(params.data))

    url = f"{aggregator.base}/sse"
    async with sdk_session(url, version, sampling_callback=sampling, logging_callback=logging) as (
        session,
        result,
    ):
        assert result.protocol_version == (version or "2025-11-25")
        assert result.server_info.name == "only1mcp"
        with anyio.fail_after(DEADLINE):
            names = {tool.name for tool in (await session.list_tools()).tools}
            assert {"fx__echo", "fx__sample", "iso__pid"} <= names, names
            echoed = await session.call_tool("fx__echo", {"text": "over sse"})
            assert echoed.content == [types.TextContent(type="text", text="over sse")]
            added = await session.call_tool("fx__add", {"a": 2, "b": 40})
            assert added.structured_content == {"result": 42}
            answer = await session.call_tool("fx__sample", {"prompt": "hello"})
            failed = await session.call_tool("fx__fail", {"message": "no"})
        assert answer.content == [types.TextContent(type="text", text="sampled: hello")]
        assert prompts == ["hello"]
        assert failed.is_error
        with anyio.fail_after(DEADLINE):
            while "sampling: hello" not in logged:
                await anyio.sleep(0.02)


# --------------------------------------------------------------------------- the wire


@contextlib.asynccontextmanager
async def raw_session(
    agg: HttpAggregator, headers: dict[str, str] | None = None
) -> AsyncIterator[tuple[httpx.AsyncClient, str, Events]]:
    """``GET /sse`` by hand: (client, message URL, the rest of the events)."""
    async with (
        httpx.AsyncClient(base_url=agg.base, timeout=DEADLINE, headers=headers) as http,
        aconnect_sse(http, "GET", "/sse") as source,
    ):
        assert source.response.status_code == 200
        assert source.response.headers["content-type"] == "text/event-stream"
        events = source.aiter_sse()
        first = await anext(events)
        assert first.event == "endpoint"
        assert ENDPOINT.fullmatch(first.data), first.data
        yield http, first.data, events


async def next_message(events: Events) -> Any:
    """The JSON of the next ``message`` event."""
    with anyio.fail_after(DEADLINE):
        async for event in events:
            if event.event == "message":
                return orjson.loads(event.data)
    raise AssertionError("the stream ended")


async def post(http: httpx.AsyncClient, endpoint: str, body: object) -> httpx.Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return await http.post(endpoint, content=content)


def initialize(version: str = "2024-11-05", req_id: int = 1) -> dict[str, Any]:
    params = {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "raw"}}
    return {"jsonrpc": "2.0", "id": req_id, "method": "initialize", "params": params}


def call(req_id: int | str, tool: str, **arguments: object) -> dict[str, Any]:
    params = {"name": tool, "arguments": arguments}
    return {"jsonrpc": "2.0", "id": req_id, "method": "tools/call", "params": params}


async def test_answers_go_out_on_the_stream_and_posts_get_202(aggregator: HttpAggregator) -> None:
    async with raw_session(aggregator) as (http, endpoint, events):
        resp = await post(http, endpoint, initialize())
        assert (resp.status_code, resp.content) == (202, b"")
        answer = await next_message(events)
        assert answer["id"] == 1
        assert answer["result"]["protocolVersion"] == "2024-11-05"
        initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        assert (await post(http, endpoint, initialized)).status_code == 202
        assert (await post(http, endpoint, call("x", "fx__echo", text="raw"))).status_code == 202
        answer = await next_message(events)
        assert answer["id"] == "x"
        assert answer["result"]["content"] == [{"type": "text", "text": "raw"}]


async def test_missing_and_unknown_sessions(aggregator: HttpAggregator) -> None:
    async with httpx.AsyncClient(base_url=aggregator.base, timeout=DEADLINE) as http:
        ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        missing = await post(http, "/messages", ping)
        assert missing.status_code == 400
        assert missing.json()["error"]["code"] == -32600
        assert "session_id" in missing.json()["error"]["message"]
        unknown = await post(http, "/messages?session_id=nope", ping)
        assert unknown.status_code == 404
        assert unknown.json() == {
            "jsonrpc": "2.0",
            "id": None,
            "error": {"code": -32600, "message": "Session not found; open a new one with GET /sse"},
        }


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        (b'{"jsonrpc": "2.0", "id": 1, "method": ', -32700, "Parse error"),
        (b'{"id": 1, "method": "ping"}', -32600, "JSON-RPC 2.0 object"),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": [1]}', -32600, "params"),
        (b'[{"jsonrpc": "2.0", "id": 1, "method": "ping"}]', -32600, "not part of MCP 2024-11-05"),
    ],
)
async def test_malformed_messages_are_400_and_the_session_goes_on(
    aggregator: HttpAggregator, body: bytes, code: int, words: str
) -> None:
    async with raw_session(aggregator) as (http, endpoint, events):
        await post(http, endpoint, initialize())
        await next_message(events)
        resp = await post(http, endpoint, body)
        assert resp.status_code == 400
        error = resp.json()["error"]
        assert error["code"] == code
        assert words in error["message"]
        await post(http, endpoint, {"jsonrpc": "2.0", "id": 2, "method": "ping"})
        assert await next_message(events) == {"jsonrpc": "2.0", "id": 2, "result": {}}


async def test_a_2025_03_26_session_may_batch(aggregator: HttpAggregator) -> None:
    async with raw_session(aggregator) as (http, endpoint, events):
        await post(http, endpoint, initialize("2025-03-26"))
        assert (await next_message(events))["result"]["protocolVersion"] == "2025-03-26"
        batch = [call(2, "fx__echo", text="a"), {"jsonrpc": "2.0", "id": 3, "method": "ping"}]
        assert (await post(http, endpoint, batch)).status_code == 202
        answers = await next_message(events)
        assert isinstance(answers, list)
        assert [a["id"] for a in answers] == [2, 3]
        assert answers[0]["result"]["content"][0]["text"] == "a"


async def test_foreign_origin_and_wrong_methods(aggregator: HttpAggregator) -> None:
    evil = {"Origin": "http://evil.example"}
    async with httpx.AsyncClient(base_url=aggregator.base, timeout=DEADLINE) as http:
        assert (await http.get("/sse", headers=evil)).status_code == 403
        forbidden = await http.post("/messages?session_id=x", content=b"{}", headers=evil)
        assert forbidden.status_code == 403
        assert forbidden.json()["error"]["message"] == "Forbidden: Origin or Host not allowed"
        wrong_host = await http.get("/sse", headers={"Host": "evil.example"})
        assert wrong_host.status_code == 403
        post_sse = await http.post("/sse", content=b"{}")
        assert (post_sse.status_code, post_sse.headers["allow"]) == (405, "GET")
        get_messages = await http.get("/messages")
        assert (get_messages.status_code, get_messages.headers["allow"]) == (405, "POST")


async def test_a_cancelled_request_gets_no_answer(aggregator: HttpAggregator) -> None:
    async with raw_session(aggregator) as (http, endpoint, events):
        await post(http, endpoint, initialize())
        await next_message(events)
        await post(http, endpoint, call(7, "fx__sleep", seconds=30))
        await anyio.sleep(0.3)
        cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 7}}
        assert (await post(http, endpoint, cancel)).status_code == 202
        await post(http, endpoint, {"jsonrpc": "2.0", "id": 8, "method": "ping"})
        assert (await next_message(events))["id"] == 8
        with anyio.move_on_after(1.0):
            stray = await next_message(events)
            raise AssertionError(f"an answer to a cancelled request was sent: {stray}")


async def test_closing_the_stream_ends_the_session_and_its_backends(
    aggregator: HttpAggregator,
) -> None:
    async with raw_session(aggregator) as (http, endpoint, events):
        await post(http, endpoint, initialize())
        await next_message(events)
        await post(http, endpoint, call(2, "iso__pid"))
        pid = (await next_message(events))["result"]["structuredContent"]["result"]
        assert psutil.pid_exists(pid)
    async with httpx.AsyncClient(base_url=aggregator.base, timeout=DEADLINE) as http:
        ping = {"jsonrpc": "2.0", "id": 3, "method": "ping"}
        deadline = time.monotonic() + 10
        while (status := (await post(http, endpoint, ping)).status_code) != 404:
            assert status == 202 and time.monotonic() < deadline, status
            await anyio.sleep(0.05)
    with contextlib.suppress(psutil.NoSuchProcess):
        psutil.Process(pid).wait(timeout=10)  # the session's own server was stopped with it
