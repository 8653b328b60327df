"""Authorization on the stdio front: a pipe has no credentials, so once authentication is on
its principal has the roles ``access.stdio_roles`` names; lists are filtered and a call outside
them is the JSON-RPC error -32003 (a pipe has no status), on both eras."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from e2e.conftest import fx_stdio_server
from e2e.rawwire import RawStdio
from e2e.stateless_wire import META

ACCESS = {
    "roles": {
        "viewer": {"tools": ["fx__echo", "fx__add"]},
        "dev": {"inherits": ["viewer"], "tools": ["fx__*"]},
    },
    "tools": {"fx__add": {"rate": {"per_second": 0.1, "burst": 1}}},
    "stdio_roles": ["viewer"],
}


@pytest.fixture(scope="module")
def stdio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RawStdio]:
    workdir = tmp_path_factory.mktemp("access-stdio")
    config = workdir / "only1mcp.yaml"
    document = {
        "servers": {"fx": {**fx_stdio_server(), "protocol": "handshake"}},
        # The keys are for HTTP clients; a stdio client has the roles of access.stdio_roles.
        "auth": {"modes": ["api_key"], "api_keys": [{"name": "k", "key": "k-key-0123456789abc"}]},
        "access": ACCESS,
    }
    config.write_text(yaml.safe_dump(document, sort_keys=False))
    proc = RawStdio(config, workdir / "only1mcp-stdio.log")
    try:
        hello = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t"}}
        proc.request({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": hello})
        yield proc
    finally:
        problems = proc.close()
    assert not problems, "\n".join(problems)


def request(req_id: int, method: str, **params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": req_id, "method": method, "params": params}


def test_stdio_lists_what_its_roles_grant(stdio: RawStdio) -> None:
    tools = stdio.request(request(1, "tools/list"))["result"]["tools"]
    assert {tool["name"] for tool in tools} == {"fx__echo", "fx__add"}
    at_2026 = stdio.request(request(2, "tools/list", _meta=META))["result"]["tools"]
    assert {tool["name"] for tool in at_2026} == {"fx__echo", "fx__add"}


def test_stdio_refuses_a_call_outside_them_with_a_jsonrpc_error(stdio: RawStdio) -> None:
    refused = stdio.request(request(3, "tools/call", name="fx__pid", arguments={}))
    assert refused["error"]["code"] == -32003
    assert refused["error"]["data"] == {"scopes": ["dev"]}
    at_2026 = stdio.request(request(4, "tools/call", name="fx__pid", arguments={}, _meta=META))
    assert at_2026["error"]["code"] == -32003
    ok = stdio.request(request(5, "tools/call", name="fx__echo", arguments={"text": "p"}))
    assert ok["result"]["content"][0]["text"] == "p"


def test_stdio_rate_limit_is_a_jsonrpc_error_with_the_wait(stdio: RawStdio) -> None:
    add = {"name": "fx__add", "arguments": {"a": 1, "b": 1}}
    assert "result" in stdio.request(request(6, "tools/call", **add))
    limited = stdio.request(request(7, "tools/call", **add))
    assert limited["error"]["code"] == -32029
    assert 0 < limited["error"]["data"]["retryAfter"] <= 10
