"""Raw handshake-era HTTP for the cluster tests: each request sent to the process a test picks
(bypassing the balancer), so that which process serves what is certain."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson

REVISION = "2025-11-25"
ACCEPT = "application/json, text/event-stream"


def initialize(http: httpx.Client, url: str, capabilities: dict[str, Any] | None = None) -> str:
    """Open a session at ``url`` (and send ``notifications/initialized``); its id."""
    msg = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": REVISION,
            "capabilities": capabilities or {},
            "clientInfo": {"name": "cluster-test", "version": "1"},
        },
    }
    resp = http.post(url, json=msg, headers={"Accept": ACCEPT})
    assert resp.status_code == 200, resp.text
    sid = resp.headers["mcp-session-id"]
    notify = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert post(http, url, sid, notify).status_code == 202
    return sid


def headers(sid: str) -> dict[str, str]:
    return {"Accept": ACCEPT, "Mcp-Session-Id": sid, "MCP-Protocol-Version": REVISION}


def post(http: httpx.Client, url: str, sid: str, msg: dict[str, Any]) -> httpx.Response:
    return http.post(url, content=orjson.dumps(msg), headers=headers(sid))


def call(name: str, arguments: dict[str, Any], req_id: int = 1) -> dict[str, Any]:
    params = {"name": name, "arguments": arguments}
    return {"jsonrpc": "2.0", "id": req_id, "method": "tools/call", "params": params}


def answer_of(resp: httpx.Response) -> dict[str, Any]:
    """The JSON-RPC response of a POST, whether it came as JSON or as an SSE stream."""
    assert resp.status_code == 200, resp.text
    if resp.headers["content-type"].startswith("application/json"):
        body: dict[str, Any] = resp.json()
        return body
    found = [m for m in sse_messages(iter(resp.text.splitlines())) if "method" not in m]
    assert found, resp.text
    return found[-1]


def sse_messages(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """The JSON-RPC messages of an SSE stream, as they come."""
    for line in lines:
        if line.startswith("data: ") and line[6:].strip():
            yield orjson.loads(line[6:])


def sample_across(http: httpx.Client, asking: str, answering: str, sid: str, text: str) -> str:
    """``fx__sample`` POSTed to ``asking``; its sampling request answered ``text`` with a POST
    to ``answering``; the tool's result text."""
    asked = call("fx__sample", {"prompt": "which process?"}, req_id=7)
    with http.stream("POST", asking, content=orjson.dumps(asked), headers=headers(sid)) as resp:
        messages = sse_messages(resp.iter_lines())
        question = next(m for m in messages if m.get("method") == "sampling/createMessage")
        assert str(question["id"]).startswith("only1mcp-")
        result = {
            "role": "assistant",
            "content": {"type": "text", "text": text},
            "model": "test-model",
            "stopReason": "endTurn",
        }
        answer = {"jsonrpc": "2.0", "id": question["id"], "result": result}
        assert post(http, answering, sid, answer).status_code == 202
        final = next(m for m in messages if m.get("id") == 7)
    return str(final["result"]["content"][0]["text"])
