"""The router with shaping and lazy discovery, driven with a fake backend (real gateway,
catalog and router; no process): what reaches the server, and what is refused before it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from backends.fake import FakeServer

from only1mcp.backends import Wiring
from only1mcp.config import Config
from only1mcp.gateway import Gateway
from only1mcp.router import Router
from only1mcp.types import JsonObject

pytestmark = pytest.mark.anyio
SERVER = {"url": "http://127.0.0.1:9/fake", "protocol": "handshake", "health": {"interval": 0}}
TOOLS = [
    {
        "name": "echo",
        "title": "Echo",
        "description": "Echo a text back",
        "inputSchema": {
            "type": "object",
            "properties": {"text": {"type": "string"}, "where": {"type": "string"}},
            "required": ["text", "where"],
        },
    },
    {"name": "wipe", "description": "Delete everything", "inputSchema": {"type": "object"}},
]


async def _tools(params: JsonObject, sink: Any) -> JsonObject:
    return {"tools": TOOLS}


class Harness:
    def __init__(self, config: dict[str, Any]) -> None:
        self.built: list[FakeServer] = []
        self.gateway = Gateway(Config.model_validate(config), self._create)
        self.router = Router(self.gateway)
        self.session = self.gateway.sessions.create()
        self._ids = iter(range(1, 1000))

    def _create(self, name: str, config: Any, wiring: Wiring | None = None, **_: Any) -> FakeServer:
        server = FakeServer(name, config, wiring)
        server.handlers["tools/list"] = _tools
        self.built.append(server)
        return server

    async def ask(self, method: str, params: JsonObject) -> Any:
        msg = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        answer = await self.router.handle(self.session, msg)
        assert answer is not None
        return orjson.loads(answer)

    def sent(self) -> list[JsonObject]:
        return [m for m in self.built[0].sent if m["method"] == "tools/call"]


@pytest.fixture
async def shaped() -> AsyncIterator[Harness]:
    tools = {
        "deny": ["wipe"],
        "overrides": {"echo": {"name": "say", "arguments": {"where": {"value": "here"}}}},
    }
    harness = Harness({"servers": {"fake": {**SERVER, "tools": tools, "schemas": "compact"}}})
    await harness.gateway.start()
    yield harness
    await harness.gateway.stop()


async def test_shaped_list_and_the_fixed_argument_reaches_the_server(shaped: Harness) -> None:
    [tool] = (await shaped.ask("tools/list", {}))["result"]["tools"]
    assert tool["name"] == "fake__say" and "title" not in tool
    assert tool["inputSchema"]["properties"] == {"text": {"type": "string"}}
    answer = await shaped.ask("tools/call", {"name": "fake__say", "arguments": {"text": "hi"}})
    assert answer["result"] == {"content": [{"type": "text", "text": "hi"}]}
    [sent] = shaped.sent()
    assert sent["params"] == {"name": "echo", "arguments": {"text": "hi", "where": "here"}}


async def test_denied_tool_and_resource_never_reach_the_server(shaped: Harness) -> None:
    answer = await shaped.ask("tools/call", {"name": "fake__wipe", "arguments": {}})
    assert answer["error"] == {
        "code": -32602,
        "message": "Tool fake__wipe is not exposed by the configuration",
    }
    assert shaped.sent() == []


async def test_resource_globs_hold_for_unlisted_uris() -> None:
    harness = Harness({"servers": {"fake": {**SERVER, "resources": {"deny": ["file:///etc/*"]}}}})
    await harness.gateway.start()
    try:
        answer = await harness.ask("resources/read", {"uri": "fake+file:///etc/passwd"})
        assert answer["error"]["message"] == (
            "Resource fake+file:///etc/passwd is not exposed by the configuration"
        )
        assert [m for m in harness.built[0].sent if m["method"] == "resources/read"] == []
    finally:
        await harness.gateway.stop()


async def test_lazy_mode_searches_and_calls_through_call_tool() -> None:
    harness = Harness({"servers": {"fake": SERVER}, "discovery": "lazy"})
    await harness.gateway.start()
    try:
        listed = (await harness.ask("tools/list", {}))["result"]["tools"]
        assert [t["name"] for t in listed] == ["search_tools", "call_tool"]
        found = await harness.ask(
            "tools/call", {"name": "search_tools", "arguments": {"query": "echo text back"}}
        )
        assert found["result"]["structuredContent"]["tools"][0]["name"] == "fake__echo"
        assert harness.sent() == []  # answered by Only1MCP itself
        wrapped = {"name": "fake__echo", "arguments": {"text": "yo", "where": "x"}}
        called = await harness.ask("tools/call", {"name": "call_tool", "arguments": wrapped})
        assert called["result"] == {"content": [{"type": "text", "text": "yo"}]}
        assert harness.sent()[0]["params"]["name"] == "echo"
    finally:
        await harness.gateway.stop()
