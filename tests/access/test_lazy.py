"""Lazy discovery under authorization: a principal lists, finds and calls only what its roles
grant — ``call_tool`` is admitted as the call of the tool it wraps, ``search_tools`` answers
only the principal's view (real gate, gateway, catalog and router; fake backends)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from backends.fake import FakeServer

from only1mcp.access.gate import Gate
from only1mcp.audit import AuditLog
from only1mcp.auth.principal import Principal
from only1mcp.backends import Wiring
from only1mcp.config import Config
from only1mcp.errors import AccessDenied
from only1mcp.gateway import Gateway
from only1mcp.router import Router
from only1mcp.types import JsonObject

pytestmark = pytest.mark.anyio
FAKE = {"url": "http://127.0.0.1:9/fake", "protocol": "handshake", "health": {"interval": 0}}
TOOLS = {
    "time": [{"name": "now", "description": "Current time in a timezone"}],
    "git": [{"name": "status", "description": "Working tree status of the repository"}],
}
VIEWER = Principal("key:viewer", frozenset({"viewer"}))


def _config(tmp_path: Path) -> Config:
    return Config.model_validate(
        {
            "servers": {"time": FAKE, "git": FAKE},
            "discovery": {"mode": "lazy", "always_visible": ["*__*"]},
            "auth": {"modes": ["api_key"], "api_keys": [{"name": "v", "key": "v" * 20}]},
            "access": {"roles": {"viewer": {"tools": ["time__*"]}}},
            "audit": {"path": str(tmp_path / "audit.log")},
        }
    )


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Router, Gate]]:
    config = _config(tmp_path)

    def create(name: str, server: Any, wiring: Wiring | None = None, **_: Any) -> FakeServer:
        fake = FakeServer(name, server, wiring)

        async def tools(params: JsonObject, sink: Any) -> JsonObject:
            return {"tools": [{**t, "inputSchema": {"type": "object"}} for t in TOOLS[name]]}

        fake.handlers["tools/list"] = tools
        return fake

    gateway = Gateway(config, create)
    gate = Gate(config, AuditLog(config.audit), gateway.catalogs)
    router = Router(gateway, gate)
    await gateway.start()
    yield router, gate
    await gateway.stop()


async def _ask(router: Router, method: str, params: JsonObject) -> Any:
    session = router.gateway.sessions.create(VIEWER)
    msg = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    answer = await router.handle(session, msg)
    assert answer is not None
    return orjson.loads(answer)["result"]


async def test_the_list_and_the_search_are_the_principals_view(
    served: tuple[Router, Gate],
) -> None:
    router, _ = served
    listed = await _ask(router, "tools/list", {})
    assert [t["name"] for t in listed["tools"]] == ["search_tools", "call_tool", "time__now"]
    query = {"name": "search_tools", "arguments": {"query": "status of the repository time"}}
    found = (await _ask(router, "tools/call", query))["structuredContent"]["tools"]
    assert [t["name"] for t in found] == ["time__now"]


async def test_call_tool_is_admitted_as_the_tool_it_wraps(served: tuple[Router, Gate]) -> None:
    _, gate = served

    def call(params: JsonObject) -> JsonObject:
        return {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}

    wrapped = {"name": "call_tool", "arguments": {"name": "git__status", "arguments": {}}}
    with pytest.raises(AccessDenied, match="may not call tool 'git__status'"):
        gate.admit(VIEWER, call(wrapped), None, "s")
    allowed = {"name": "call_tool", "arguments": {"name": "time__now"}}
    ticket = gate.admit(VIEWER, call(allowed), None, "s")
    assert ticket is not None and ticket.name == "time__now"
    assert gate.server(ticket.kind, ticket.name) == "time"  # what the audit line names
    search = {"name": "search_tools", "arguments": {"query": "git"}}
    assert gate.admit(VIEWER, call(search), None, "s") is None  # answers the view only
