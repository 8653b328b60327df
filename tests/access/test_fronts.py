"""Authorization through the real fronts: per-principal lists on the handshake ``/mcp``, the
2026 stateless ``/mcp`` and legacy ``/sse``; 403 with the Bearer challenge, 429 with
Retry-After; the audit log.

The HTTP service (the authentication middleware with API keys in front of the fronts) runs in
this process on a real socket (uvicorn in a thread) in front of real backends over stdio: the
SDK fixture server (``fx``, tools) and the conformance server (``cf``, tools, prompts,
resources, templates). Each principal is an API key (``X-API-Key``, or ``Authorization:
Bearer``) bound to its roles.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import orjson
import pytest
import uvicorn
from e2e.conftest import REPO_ROOT, free_port, fx_stdio_server
from e2e.stateless_wire import META, headers_for
from httpx_sse import ServerSentEvent, aconnect_sse
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from only1mcp.app import http_app
from only1mcp.config import parse_config
from only1mcp.front.origin import OriginPolicy

pytestmark = pytest.mark.anyio

CONFORMANCE = REPO_ROOT / "tests" / "fixtures" / "conformance_server.py"
DEADLINE = 20.0
ACCEPT = "application/json, text/event-stream"
ACCESS: dict[str, Any] = {
    "roles": {
        "viewer": {
            "tools": ["fx__echo", "fx__add"],
            "prompts": ["cf__test_simple_prompt"],
            "resources": ["cf+test://static-*"],
        },
        "dev": {
            "inherits": ["viewer"],
            "tools": ["fx__*", "cf__*"],
            "prompts": ["cf__*"],
            "resources": ["cf+*"],
        },
        "lan": {"tools": ["fx__pid"], "policy": {"cidrs": ["10.0.0.0/8"]}},
    },
    "tools": {"fx__add": {"rate": {"per_second": 0.2, "burst": 2}}},
}
# principal name → its roles; each key is "<name>-key-0123456789" (at least 16 characters)
PRINCIPALS = {
    "viewer": ["viewer"],
    "dev": ["dev"],
    "lan": ["lan"],
    "hasty": ["viewer"],
    "audited": ["viewer"],
    "nobody": [],
}
VIEWER = "viewer"
DEV = "dev"


def key_of(who: str) -> str:
    return f"{who}-key-0123456789"


def credentials(who: str) -> dict[str, str]:
    return {"X-API-Key": key_of(who)}


def servers() -> dict[str, Any]:
    conformance = {
        "command": sys.executable,
        "args": [str(CONFORMANCE), "--transport", "stdio"],
        "prefix": "cf",
        "timeout": 20,
    }
    return {"fx": {**fx_stdio_server(), "protocol": "handshake"}, "cf": conformance}


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """``app`` on a loopback port until the block ends; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="on", log_level="warning", interface="asgi3"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/healthz").json()["status"] == "ok":
                break
        time.sleep(0.1)
    else:
        raise AssertionError("the front did not become ready")
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="module")
def audit_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("access-fronts") / "audit.log"


@pytest.fixture(scope="module")
def base(audit_path: Path) -> Iterator[str]:
    config = parse_config(
        {
            "servers": servers(),
            "auth": {
                "modes": ["api_key"],
                "api_keys": [
                    {"name": who, "key": key_of(who), "roles": roles}
                    for who, roles in PRINCIPALS.items()
                ],
            },
            "access": ACCESS,
            "audit": {"path": str(audit_path)},
        },
        "access-test",
    )
    service = http_app(config, OriginPolicy([], "127.0.0.1"))
    with serving(service.asgi) as url:
        yield url


# ------------------------------------------------------------------ the handshake era


class Handshake:
    """A raw Streamable HTTP session of one principal."""

    def __init__(self, http: httpx.AsyncClient, who: str) -> None:
        self.http = http
        self.headers = {"Accept": ACCEPT, **credentials(who)}
        self.ids = 0

    async def open(self) -> None:
        params = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t"}}
        resp = await self.send("initialize", params)
        assert resp.status_code == 200, resp.text
        self.headers["Mcp-Session-Id"] = resp.headers["mcp-session-id"]

    async def send(self, method: str, params: dict[str, Any]) -> httpx.Response:
        self.ids += 1
        msg = {"jsonrpc": "2.0", "id": self.ids, "method": method, "params": params}
        with anyio.fail_after(DEADLINE):
            return await self.http.post("/mcp", json=msg, headers=self.headers)


@contextlib.asynccontextmanager
async def handshake(base: str, who: str) -> AsyncIterator[Handshake]:
    async with httpx.AsyncClient(base_url=base, timeout=DEADLINE) as http:
        session = Handshake(http, who)
        await session.open()
        yield session


def listed(answer: dict[str, Any], key: str, field: str = "name") -> set[str]:
    return {item[field] for item in answer["result"][key]}


async def lists_of(send: Any) -> dict[str, set[str]]:
    """The four lists through ``send(method) -> decoded answer``."""
    return {
        "tools": listed(await send("tools/list"), "tools"),
        "prompts": listed(await send("prompts/list"), "prompts"),
        "resources": listed(await send("resources/list"), "resources", "uri"),
        "templates": listed(
            await send("resources/templates/list"), "resourceTemplates", "uriTemplate"
        ),
    }


VIEWER_SEES = {
    "tools": {"fx__echo", "fx__add"},
    "prompts": {"cf__test_simple_prompt"},
    "resources": {"cf+test://static-text", "cf+test://static-binary"},
    "templates": set(),
}


async def test_handshake_lists_are_filtered_per_principal(base: str) -> None:
    async with handshake(base, VIEWER) as viewer, handshake(base, DEV) as dev:

        async def as_viewer(method: str) -> Any:
            return (await viewer.send(method, {})).json()

        async def as_dev(method: str) -> Any:
            return (await dev.send(method, {})).json()

        assert await lists_of(as_viewer) == VIEWER_SEES
        everything = await lists_of(as_dev)
        assert {"fx__pid", "fx__sleep", "cf__test_simple_text"} <= everything["tools"]
        assert "cf+test://template/{id}/data" in everything["templates"]
        assert "cf+test://watched-resource" in everything["resources"]
        assert not any(name.startswith("fx__pid") for name in VIEWER_SEES["tools"])


async def test_handshake_call_outside_the_grants_is_403_with_the_challenge(base: str) -> None:
    async with handshake(base, VIEWER) as viewer:
        ok = await viewer.send("tools/call", {"name": "fx__echo", "arguments": {"text": "hi"}})
        assert ok.status_code == 200 and ok.json()["result"]["content"][0]["text"] == "hi"
        refused = await viewer.send("tools/call", {"name": "fx__pid", "arguments": {}})
        assert refused.status_code == 403
        challenge = refused.headers["www-authenticate"]
        assert challenge.startswith("Bearer ")
        assert 'error="insufficient_scope"' in challenge
        assert 'scope="dev lan"' in challenge
        metadata = "/.well-known/oauth-protected-resource/mcp"
        assert f'resource_metadata="http://127.0.0.1:8765{metadata}"' in challenge
        body = refused.json()
        assert body["id"] == viewer.ids and body["error"]["code"] == -32003
        assert body["error"]["data"] == {"scopes": ["dev", "lan"]}
        for method, params in [
            ("prompts/get", {"name": "cf__test_prompt_with_arguments", "arguments": {}}),
            ("resources/read", {"uri": "cf+test://watched-resource"}),
            ("resources/subscribe", {"uri": "cf+test://watched-resource"}),
            (
                "completion/complete",
                {
                    "ref": {"type": "ref/resource", "uri": "cf+test://template/{id}/data"},
                    "argument": {"name": "id", "value": "1"},
                },
            ),
        ]:
            resp = await viewer.send(method, params)
            assert resp.status_code == 403, (method, resp.text)
            assert resp.json()["error"]["code"] == -32003
        allowed = await viewer.send("resources/read", {"uri": "cf+test://static-text"})
        assert allowed.status_code == 200 and "result" in allowed.json()


async def test_a_policy_refusal_names_its_reason(base: str) -> None:
    async with handshake(base, "lan") as lan:
        resp = await lan.send("tools/call", {"name": "fx__pid", "arguments": {}})
        assert resp.status_code == 403
        assert "not allowed from this network" in resp.json()["error"]["message"]


async def test_over_the_rate_limit_is_429_with_retry_after(base: str) -> None:
    async with handshake(base, "hasty") as hasty:
        add = {"name": "fx__add", "arguments": {"a": 1, "b": 2}}
        assert [(await hasty.send("tools/call", add)).status_code for _ in range(2)] == [200, 200]
        limited = await hasty.send("tools/call", add)
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["retry-after"]) <= 5
        assert limited.json()["error"]["code"] == -32029
        assert limited.json()["id"] == hasty.ids


async def test_a_batch_item_refused_is_that_items_error(base: str) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=DEADLINE) as http:
        session = Handshake(http, VIEWER)
        params = {"protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "t"}}
        resp = await session.send("initialize", params)
        session.headers["Mcp-Session-Id"] = resp.headers["mcp-session-id"]
        batch = [
            {"jsonrpc": "2.0", "id": "a", "method": "tools/call", "params": {"name": "fx__pid"}},
            {"jsonrpc": "2.0", "id": "b", "method": "tools/list"},
        ]
        answers = (await http.post("/mcp", json=batch, headers=session.headers)).json()
        by_id = {answer["id"]: answer for answer in answers}
        assert by_id["a"]["error"]["code"] == -32003
        assert listed(by_id["b"], "tools") == VIEWER_SEES["tools"]


# -------------------------------------------------------------------- the 2026 era


async def stateless(http: httpx.AsyncClient, who: str, method: str, **params: Any) -> Any:
    msg = {"jsonrpc": "2.0", "id": 9, "method": method, "params": {**params, "_meta": META}}
    headers = {**headers_for(msg), "Authorization": f"Bearer {key_of(who)}"}
    with anyio.fail_after(DEADLINE):
        return await http.post("/mcp", json=msg, headers=headers)


async def test_stateless_lists_are_filtered_and_calls_refused(base: str) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=DEADLINE) as http:

        async def as_viewer(method: str) -> Any:
            return (await stateless(http, VIEWER, method)).json()

        assert await lists_of(as_viewer) == VIEWER_SEES
        dev_tools = listed((await stateless(http, DEV, "tools/list")).json(), "tools")
        assert "fx__pid" in dev_tools
        ok = await stateless(http, VIEWER, "tools/call", name="fx__echo", arguments={"text": "x"})
        assert ok.status_code == 200 and ok.json()["result"]["content"][0]["text"] == "x"
        refused = await stateless(http, VIEWER, "tools/call", name="fx__pid", arguments={})
        assert refused.status_code == 403
        assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
        assert refused.json()["id"] == 9 and refused.json()["error"]["code"] == -32003
        nobody = await stateless(http, "nobody", "tools/list")
        assert nobody.json()["result"]["tools"] == []


# -------------------------------------------------------------- the legacy /sse front

Events = AsyncIterator[ServerSentEvent]


async def next_message(events: Events) -> Any:
    with anyio.fail_after(DEADLINE):
        async for event in events:
            if event.event == "message":
                return orjson.loads(event.data)
    raise AssertionError("the stream ended")


async def test_legacy_sse_lists_are_filtered_and_refusals_come_on_the_stream(base: str) -> None:
    headers = credentials(VIEWER)
    async with (
        httpx.AsyncClient(base_url=base, timeout=DEADLINE, headers=headers) as http,
        aconnect_sse(http, "GET", "/sse") as source,
    ):
        events = source.aiter_sse()
        endpoint = (await anext(events)).data
        ids = iter(range(1, 100))

        async def send(method: str, params: dict[str, Any] | None = None) -> Any:
            msg = {"jsonrpc": "2.0", "id": next(ids), "method": method, "params": params or {}}
            assert (await http.post(endpoint, json=msg)).status_code == 202
            answer = await next_message(events)
            assert answer["id"] == msg["id"]
            return answer

        hello = {"protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "t"}}
        await send("initialize", hello)
        assert await lists_of(send) == VIEWER_SEES
        refused = await send("tools/call", {"name": "fx__pid", "arguments": {}})
        assert refused["error"]["code"] == -32003
        assert refused["error"]["data"] == {"scopes": ["dev", "lan"]}
        ok = await send("tools/call", {"name": "fx__echo", "arguments": {"text": "s"}})
        assert ok["result"]["content"][0]["text"] == "s"


# ------------------------------------------------------------------------- the audit


async def test_calls_are_audited_allow_and_deny(base: str, audit_path: Path) -> None:
    async with handshake(base, "audited") as viewer:
        await viewer.send("tools/call", {"name": "fx__echo", "arguments": {"text": "a"}})
        await viewer.send("tools/call", {"name": "fx__sleep", "arguments": {"seconds": 0}})
        session = viewer.headers["Mcp-Session-Id"]
    lines: list[dict[str, Any]] = []
    with anyio.fail_after(DEADLINE):
        while len(lines) < 2:  # written by a background thread
            await anyio.sleep(0.05)
            lines = [
                line
                for line in map(orjson.loads, audit_path.read_bytes().splitlines())
                if line["principal"] == "key:audited"
            ]
    allowed, denied = lines
    assert allowed["decision"] == "allow" and allowed["outcome"] == "ok"
    assert allowed["name"] == "fx__echo" and allowed["server"] == "fx"
    assert allowed["session"] == session and allowed["reason"] == "role viewer"
    assert denied["decision"] == "deny" and denied["name"] == "fx__sleep"
    assert denied["outcome"] == "refused" and "may not call tool" in denied["reason"]


# --------------------------------------------------------------- the official SDK client


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_the_sdk_client_sees_its_tools_and_gets_the_refusal(base: str, mode: str) -> None:
    async with (
        httpx2.AsyncClient(headers=credentials(VIEWER), timeout=DEADLINE) as http,
        Client(streamable_http_client(f"{base}/mcp", http_client=http), mode=mode) as client,
    ):
        with anyio.fail_after(DEADLINE):
            tools = {tool.name for tool in (await client.list_tools()).tools}
            assert tools == VIEWER_SEES["tools"]
            echoed = await client.call_tool("fx__echo", {"text": "sdk"})
            assert echoed.content[0].text == "sdk"  # type: ignore[union-attr]
            with pytest.raises(MCPError) as refused:
                await client.call_tool("fx__pid", {})
    assert refused.value.error.code == -32003
