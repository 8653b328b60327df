"""The router driven with a fake backend: no process, no socket, the real gateway and catalog."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from backends.fake import FakeServer

from only1mcp.backends import Wiring
from only1mcp.config import Config, HttpServerConfig
from only1mcp.gateway import Gateway
from only1mcp.router import Router
from only1mcp.types import JsonObject

pytestmark = pytest.mark.anyio
SERVER = {"url": "http://127.0.0.1:9/fake", "protocol": "handshake", "health": {"interval": 0}}


async def test_a_tool_call_reaches_a_fake_backend_and_its_answer_comes_back() -> None:
    built: list[FakeServer] = []

    def create(name: str, config: Any, wiring: Wiring | None = None, **_: Any) -> FakeServer:
        assert isinstance(config, HttpServerConfig)
        built.append(FakeServer(name, config, wiring))
        return built[-1]

    gateway = Gateway(Config.model_validate({"servers": {"fake": SERVER}}), create)
    router = Router(gateway)
    await gateway.start()
    try:
        session = gateway.sessions.create()

        async def ask(msg_id: object, method: str, params: JsonObject) -> Any:
            msg = {"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params}
            answer = await router.handle(session, msg)
            assert answer is not None
            return orjson.loads(answer)

        hello = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t"}}
        await ask(1, "initialize", hello)
        listed = await ask(2, "tools/list", {})
        [tool] = listed["result"]["tools"]
        answer = await ask("c", "tools/call", {"name": tool["name"], "arguments": {"text": "hi"}})
        assert answer == {
            "jsonrpc": "2.0",
            "id": "c",
            "result": {"content": [{"type": "text", "text": "hi"}]},
        }
        sent = built[0].sent[-1]
        assert sent["method"] == "tools/call" and sent["params"]["name"] == "echo"
        assert isinstance(sent["id"], int)  # a backend-local id, swapped back for the client's
    finally:
        await gateway.stop()


async def test_a_started_gateway_collects_young_objects_less_often() -> None:
    """Calls in flight keep their objects alive until answered: at CPython's threshold (700)
    the young collection traversed them every few calls (the c=64 rise in CPU per call)."""
    import gc

    from only1mcp.gateway import GC_YOUNG_THRESHOLD

    before = gc.get_threshold()
    gc.set_threshold(700, *before[1:])

    def create(name: str, config: Any, wiring: Wiring | None = None, **_: Any) -> FakeServer:
        return FakeServer(name, config, wiring)

    gateway = Gateway(Config.model_validate({"servers": {"fake": SERVER}}), create)
    try:
        await gateway.start()
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *before[1:])
        assert GC_YOUNG_THRESHOLD > 700
    finally:
        await gateway.stop()
        gc.set_threshold(*before)
