"""MCP 2026-07-28 clients through both fronts, in front of handshake-era servers.

The official SDK client, pinned to 2026-07-28 and in ``auto`` mode (which now finds
``server/discover``), against the conformance fixture run as a handshake-only stdio server: its
tools that ask the client something mid-call (elicitation, sampling, roots) are bridged into
``input_required`` rounds, and the SDK answers them through its callbacks. Plus the wire-level
rules a 2026 client meets that the SDK never provokes (405, 406, 202, tampered state).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import mcp_types as types
import pytest
from fastmcp import Client as FastMCPClient
from mcp import Client

from .conftest import (
    CLIENT_READ_TIMEOUT,
    FRONT_KINDS,
    REPO_ROOT,
    Front,
    fx_stdio_server,
    open_front,
    sampled,
    text_of,
    write_config,
)
from .stateless_wire import META, V, headers_for, tools_call

pytestmark = pytest.mark.anyio

CONFORMANCE = REPO_ROOT / "tests" / "fixtures" / "conformance_server.py"


def _config(workdir: Path) -> Path:
    # The tests park calls of ``c`` side by side and leave some parked: a server that asks its
    # 2026 callers questions under concurrency, so each 2026 call leases an instance of its
    # own, where every question is attributed exactly (docs/design/eras.md §4.7).
    conformance = {
        "command": sys.executable,
        "args": [str(CONFORMANCE), "--transport", "stdio"],
        "prefix": "c",
        "timeout": 20,
        "isolation": "call",
    }
    return write_config(workdir / "only1mcp.yaml", {"c": conformance, "fx": fx_stdio_server()})


@pytest.fixture(scope="module")
def stateless_front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Front]:
    """The HTTP front (raw wire checks and the clients that only speak HTTP)."""
    workdir = tmp_path_factory.mktemp("stateless")
    with open_front("http", _config(workdir), workdir) as front:
        yield front


@pytest.fixture(scope="module", params=FRONT_KINDS)
def either_front(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Front]:
    """Each front in turn: the 2026 era is told apart by header on HTTP, by _meta on stdio."""
    kind: str = request.param
    workdir = tmp_path_factory.mktemp(f"modern-{kind}")
    with open_front(kind, _config(workdir), workdir) as front:
        yield front


def _client(front: Front, mode: str = V, **callbacks: Any) -> Client:
    assert front.http is not None
    return Client(
        front.http.url,
        mode=mode,
        cache=None,
        read_timeout_seconds=CLIENT_READ_TIMEOUT,
        **callbacks,
    )


async def _elicit(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
    message = getattr(params, "message", "")
    value = {"color": "blue"} if "color" in message else {"name": "Alice"}
    return types.ElicitResult(action="accept", content=value)


async def _sample(context: Any, params: types.CreateMessageRequestParams) -> Any:
    return sampled("Paris")


async def test_pinned_client_lists_and_calls(stateless_front: Front) -> None:
    async with _client(stateless_front) as client:
        assert client.protocol_version == V
        with anyio.fail_after(30):
            tools = await client.list_tools()
            names = {tool.name for tool in tools.tools}
            assert {"fx__echo", "c__test_simple_text"} <= names
            # A merged list is Only1MCP's own answer: it names Only1MCP as its producer.
            meta = tools.model_dump(mode="json", by_alias=True)["_meta"]
            assert meta["io.modelcontextprotocol/serverInfo"]["name"] == "only1mcp"
            result = await client.call_tool("fx__echo", {"text": "stateless"})
            assert text_of(result) == "stateless"


async def test_auto_mode_discovers_the_2026_front(stateless_front: Front) -> None:
    async with _client(stateless_front, mode="auto") as client:
        assert client.protocol_version == V


async def test_backend_questions_become_input_rounds_the_sdk_answers(either_front: Front) -> None:
    async with either_front.client(
        mode=V, elicitation_callback=_elicit, sampling_callback=_sample
    ) as client:
        with anyio.fail_after(30):
            hello = await client.call_tool("c__test_input_required_result_elicitation", {})
            assert text_of(hello) == "Hello, Alice!"
            sampled = await client.call_tool("c__test_input_required_result_sampling", {})
            assert "Paris" in text_of(sampled)
            rounds = await client.call_tool("c__test_input_required_result_multi_round", {})
            assert text_of(rounds) == "Alice likes blue"


async def test_logs_reach_a_2026_client_only_when_it_asks(either_front: Front) -> None:
    for level, expected in ((None, 0), ("info", 3)):
        seen: list[Any] = []

        async def on_log(params: Any, seen: list[Any] = seen) -> None:
            seen.append(params)

        async with either_front.client(mode=V, logging_callback=on_log, log_level=level) as client:
            with anyio.fail_after(30):
                await client.call_tool("c__test_tool_with_logging", {})
        assert len(seen) == expected, (level, seen)


# ------------------------------------------------------------------------------ raw wire


def _post(front: Front, body: dict[str, Any], **headers: str) -> httpx.Response:
    assert front.http is not None
    headers = {**headers_for(body), **headers}
    return httpx.post(front.http.url, json=body, headers=headers, timeout=30)


def _call(name: str, **params: Any) -> dict[str, Any]:
    return tools_call(name, req_id=9, **params)


def test_get_and_delete_are_405_and_accept_must_list_both(stateless_front: Front) -> None:
    assert stateless_front.http is not None
    url = stateless_front.http.url
    for method in ("GET", "DELETE"):
        resp = httpx.request(method, url, headers={"MCP-Protocol-Version": V})
        assert resp.status_code == 405 and resp.headers["allow"] == "POST"
    discover = {"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": META}}
    resp = _post(stateless_front, discover, Accept="application/json")
    assert resp.status_code == 406


def test_a_notification_is_accepted_and_dropped(stateless_front: Front) -> None:
    note = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}}
    assert _post(stateless_front, note).status_code == 202


def test_a_tampered_state_is_refused_and_a_good_one_completes(stateless_front: Front) -> None:
    name = "c__test_input_required_result_request_state"
    first = _post(stateless_front, _call(name), **{"Mcp-Name": name}).json()["result"]
    assert first["resultType"] == "input_required"
    (key,) = first["inputRequests"]
    answers = {key: {"action": "accept", "content": {"ok": True}}}
    tampered = _call(name, inputResponses=answers, requestState=first["requestState"] + "x")
    resp = _post(stateless_front, tampered, **{"Mcp-Name": name})
    assert resp.status_code == 400 and resp.json()["error"]["code"] == -32602
    assert resp.json()["id"] == 9
    good = _call(name, inputResponses=answers, requestState=first["requestState"])
    done = _post(stateless_front, good, **{"Mcp-Name": name}).json()["result"]
    assert done["resultType"] == "complete"
    assert done["content"][0]["text"] == "state-ok: confirmed=True"
    # The state was for one round of one call: replaying it finds nothing.
    again = _post(stateless_front, good, **{"Mcp-Name": name})
    assert again.status_code == 400 and again.json()["error"]["code"] == -32602


def test_a_state_is_bound_to_its_call(stateless_front: Front, tmp_path: Path) -> None:
    name = "c__test_input_required_result_request_state"
    first = _post(stateless_front, _call(name), **{"Mcp-Name": name}).json()["result"]
    other = "c__test_input_required_result_elicitation"
    moved = _call(other, requestState=first["requestState"])
    resp = _post(stateless_front, moved, **{"Mcp-Name": other})
    assert resp.status_code == 400 and resp.json()["error"]["code"] == -32602


# ------------------------------------------------------------------------- FastMCP's client


@pytest.mark.parametrize("mode", ["legacy", V])
async def test_fastmcp_client_in_each_era(stateless_front: Front, mode: str) -> None:
    asked: list[str] = []

    async def on_elicit(message: str, response_type: Any, params: Any, context: Any) -> Any:
        asked.append(message)
        return {"name": "Alice"}

    assert stateless_front.http is not None
    client = FastMCPClient(stateless_front.http.url, mode=mode, elicitation_handler=on_elicit)
    async with client:
        with anyio.fail_after(30):
            names = {tool.name for tool in await client.list_tools()}
            assert {"fx__echo", "c__test_input_required_result_elicitation"} <= names
            echoed = await client.call_tool("fx__echo", {"text": mode})
            assert echoed.content[0].text == mode  # type: ignore[union-attr]
            hello = await client.call_tool("c__test_input_required_result_elicitation", {})
            assert hello.content[0].text == "Hello, Alice!"  # type: ignore[union-attr]
    assert asked == ["What is your name?"]


# ------------------------------------------------------------------------ subscriptions/listen


def test_listen_acknowledges_then_relays_resource_updates_tagged(stateless_front: Front) -> None:
    assert stateless_front.http is not None
    uri = "c+test://watched-resource"
    listen = {
        "jsonrpc": "2.0",
        "id": "sub-1",
        "method": "subscriptions/listen",
        "params": {
            "_meta": META,
            "notifications": {"toolsListChanged": True, "resourceSubscriptions": [uri, 5]},
        },
    }
    headers = headers_for(listen)
    frames: list[dict[str, Any]] = []
    url = stateless_front.http.url
    with httpx.stream("POST", url, json=listen, headers=headers, timeout=30) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        for line in resp.iter_lines():
            if line.startswith("data: "):
                frames.append(json.loads(line[6:]))
            if len(frames) == 2:
                break
    ack, update = frames
    assert ack["method"] == "notifications/subscriptions/acknowledged"
    assert ack["params"]["notifications"] == {
        "toolsListChanged": True,
        "resourceSubscriptions": [uri],
    }
    assert ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == "sub-1"
    assert update["method"] == "notifications/resources/updated"
    assert update["params"]["uri"] == uri
    assert update["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == "sub-1"
