"""2026-07-28 backends behind Only1MCP, reached by clients of either era.

The backend is the conformance fixture that speaks 2026-07-28 natively
(``tests/fixtures/conformance_server_native.py``), twice: over Streamable HTTP (prefix ``n``)
and over stdio (prefix ``s``). Only1MCP probes both with ``server/discover`` and speaks to them
statelessly (pinned to 2026-07-28: the fixture speaks both eras, and a handshake-era client of a
two-era server gets a handshake face of it, see ``test_two_era_backends.py``). The clients are
the official SDK's:

* ``mode="legacy"`` (handshake era): the backend's ``input_required`` results reach it as
  ordinary server→client requests (elicitation, sampling, roots) on its call's stream, its
  callbacks answer, and Only1MCP retries the call with the answers (the reverse bridge);
* pinned to 2026-07-28: the results pass through, with the backend's ``requestState`` sealed in
  Only1MCP's own (bound to the backend and the call).

List changes and resource updates come from the backend's ``subscriptions/listen`` stream,
which Only1MCP keeps open (and reopens after the backend restarts).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import mcp_types as types
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from .conftest import (
    CLIENT_READ_TIMEOUT,
    FRONT_KINDS,
    REPO_ROOT,
    Front,
    StdioRun,
    _ReadyStreams,
    free_port,
    open_front,
    sampled,
    start_process,
    stdio_aggregator,
    text_of,
    wait_listening,
    write_config,
)
from .stateless_wire import V, headers_for, tools_call

pytestmark = pytest.mark.anyio

NATIVE = REPO_ROOT / "tests" / "fixtures" / "conformance_server_native.py"
PREFIXES = ("n", "s")  # the native fixture over HTTP, over stdio
DEADLINE = 30.0
ROOT = "file:///test/root"


class NativeHttp:
    """The native fixture over HTTP on a fixed port, restartable in place."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [sys.executable, str(NATIVE), "--port", str(self.port)]
        self.proc = start_process(argv, self.log)
        wait_listening(self.proc, self.port, self.log)

    def kill(self) -> None:
        """Die at once (a graceful stop would wait for Only1MCP's open listen stream)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(15)
            self.proc = None

    def __enter__(self) -> NativeHttp:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


@pytest.fixture(scope="module")
def native(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NativeHttp]:
    with NativeHttp(tmp_path_factory.mktemp("native") / "native.log") as server:
        yield server


@contextlib.contextmanager
def _front(kind: str, native: NativeHttp, workdir: Path) -> Iterator[Front]:
    stdio = {"command": sys.executable, "args": [str(NATIVE), "--transport", "stdio"]}
    # The fixture speaks both eras; pinned to 2026-07-28 it is a 2026 server to Only1MCP, so
    # handshake-era clients meet it through the reverse bridge (unpinned, they get a handshake
    # face of it instead: test_two_era_backends.py).
    pin = {"protocol": V, "timeout": 20}
    servers = {
        "n": {"url": native.url, **pin},
        "s": {**stdio, "env": {"PYTHONUNBUFFERED": "1"}, **pin},
    }
    config = write_config(workdir / "only1mcp.yaml", servers)
    with open_front(kind, config, workdir) as opened:
        yield opened


@pytest.fixture(scope="module", params=FRONT_KINDS)
def front(
    request: pytest.FixtureRequest, native: NativeHttp, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Front]:
    with _front(request.param, native, tmp_path_factory.mktemp(f"modern-{request.param}")) as f:
        yield f


@pytest.fixture(scope="module")
def http_front(native: NativeHttp, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Front]:
    """The 2026-07-28 front is HTTP only, and a backend restart needs one front to watch."""
    with _front("http", native, tmp_path_factory.mktemp("stateless-http-only")) as f:
        yield f


class Asked:
    """SDK client callbacks that answer like a person would, and count what they were asked."""

    def __init__(self) -> None:
        self.methods: list[str] = []
        self.notifications: list[Any] = []

    async def elicit(self, context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.methods.append("elicitation/create")
        message = getattr(params, "message", "")
        if "confirm" in message:
            return types.ElicitResult(action="accept", content={"ok": True})
        if "context" in message:
            return types.ElicitResult(action="accept", content={"context": "tests"})
        value = {"color": "blue"} if "color" in message else {"name": "Alice"}
        return types.ElicitResult(action="accept", content=value)

    async def sample(self, context: Any, params: types.CreateMessageRequestParams) -> Any:
        self.methods.append("sampling/createMessage")
        return sampled("Paris")

    async def roots(self, context: Any) -> types.ListRootsResult:
        self.methods.append("roots/list")
        return types.ListRootsResult(roots=[types.Root(uri=ROOT, name="Test Root")])

    async def on_message(self, message: Any) -> None:
        if isinstance(message, types.ServerNotification):
            self.notifications.append(message)

    def callbacks(self) -> dict[str, Any]:
        return {
            "elicitation_callback": self.elicit,
            "sampling_callback": self.sample,
            "list_roots_callback": self.roots,
            "message_handler": self.on_message,
        }

    def seen(self, kind: type[Any]) -> list[Any]:
        return [n for n in self.notifications if isinstance(n, kind)]


def client(front: Front, mode: str = "legacy", **options: Any) -> Any:
    """An SDK client through ``front`` (an async context manager)."""
    options = {"mode": mode, "cache": None, "read_timeout_seconds": CLIENT_READ_TIMEOUT, **options}
    if front.http is not None:
        return Client(front.http.url, **options)
    return _stdio_client(front, options)


@contextlib.asynccontextmanager
async def _stdio_client(front: Front, options: dict[str, Any]) -> AsyncIterator[Client]:
    log = front.workdir / f"only1mcp-stdio-{time.monotonic_ns()}.log"
    async with (
        stdio_aggregator(front.stdio_argv, log, StdioRun()) as streams,
        Client(_ReadyStreams(streams), **options) as opened,
    ):
        yield opened


async def wait_for(predicate: Any, deadline: float = 10.0) -> bool:
    with anyio.move_on_after(deadline):
        while not predicate():
            await anyio.sleep(0.02)
    return bool(predicate())


# ---------------------------------------------------------------------- handshake clients


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_a_handshake_client_answers_a_2026_servers_questions(
    front: Front, prefix: str
) -> None:
    asked = Asked()
    async with client(front, **asked.callbacks()) as session:
        with anyio.fail_after(DEADLINE):
            calls = {
                "test_input_required_result_elicitation": "Hello, Alice!",
                "test_input_required_result_sampling": "LLM response: Paris",
                "test_input_required_result_list_roots": f"Client roots: {ROOT}",
                "test_input_required_result_request_state": "state-ok: confirmed=True",
                "test_input_required_result_multi_round": "Alice likes blue",
                "test_input_required_result_multiple_inputs": (
                    f"name=Alice; greeting=Paris; roots={ROOT}"
                ),
            }
            for tool, expected in calls.items():
                result = await session.call_tool(f"{prefix}__{tool}", {})
                assert not result.is_error and text_of(result) == expected, (tool, result)
            prompt = await session.get_prompt(f"{prefix}__test_input_required_result_prompt")
            assert text_of_prompt(prompt) == "Use this context: tests"
    assert sorted(asked.methods) == sorted(
        ["elicitation/create"] * 6 + ["sampling/createMessage"] * 2 + ["roots/list"] * 2
    )


def text_of_prompt(prompt: types.GetPromptResult) -> str:
    content = prompt.messages[0].content
    return content.text if isinstance(content, types.TextContent) else repr(content)


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_a_handshake_clients_capabilities_reach_the_2026_server(
    front: Front, prefix: str
) -> None:
    """No elicitation callback, no elicitation capability: the server refuses, -32021."""
    async with client(front) as session:
        with anyio.fail_after(DEADLINE), pytest.raises(MCPError) as caught:
            await session.call_tool(f"{prefix}__test_input_required_result_elicitation", {})
    assert caught.value.code == -32021


# resources/subscribe is a handshake-era method; the SDK warns that 2026-07-28 replaced it.
@pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")
@pytest.mark.parametrize("prefix", PREFIXES)
async def test_list_changes_and_resource_updates_come_from_the_listen_stream(
    front: Front, prefix: str
) -> None:
    asked = Asked()
    async with client(front, **asked.callbacks()) as session:
        with anyio.fail_after(DEADLINE):
            await session.call_tool(f"{prefix}__test_trigger_tool_change", {})
            assert await wait_for(lambda: asked.seen(types.ToolListChangedNotification))
            uri = f"{prefix}+test://watched-resource"
            await session.subscribe_resource(uri)
            await session.call_tool(f"{prefix}__test_trigger_resource_update", {})
            assert await wait_for(lambda: asked.seen(types.ResourceUpdatedNotification))
            updates = asked.seen(types.ResourceUpdatedNotification)
            assert {str(n.params.uri) for n in updates} == {uri}


async def test_the_listen_stream_is_reopened_after_the_server_restarts(
    http_front: Front, native: NativeHttp
) -> None:
    front = http_front
    native.kill()
    native.start()
    asked = Asked()
    async with client(front, **asked.callbacks()) as session:
        with anyio.fail_after(DEADLINE):
            while not asked.seen(types.ToolListChangedNotification):
                # A call right after the restart may meet the backend still down, or beat the
                # new stream's acknowledgement; the change must get through within the deadline.
                with contextlib.suppress(MCPError):
                    await session.call_tool("n__test_trigger_tool_change", {})
                await wait_for(lambda: asked.seen(types.ToolListChangedNotification), 0.5)


# --------------------------------------------------------------------------- 2026 clients


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_a_2026_client_gets_the_servers_rounds(http_front: Front, prefix: str) -> None:
    asked = Asked()
    async with client(http_front, mode=V, **asked.callbacks()) as session:
        assert session.protocol_version == V
        with anyio.fail_after(DEADLINE):
            hello = await session.call_tool(f"{prefix}__test_input_required_result_elicitation", {})
            assert text_of(hello) == "Hello, Alice!"
            rounds = await session.call_tool(
                f"{prefix}__test_input_required_result_multi_round", {}
            )
            assert text_of(rounds) == "Alice likes blue"
    assert asked.methods == ["elicitation/create"] * 3


def _post(front: Front, name: str, **params: Any) -> httpx.Response:
    assert front.http is not None
    body = tools_call(name, req_id=5, **params)
    return httpx.post(front.http.url, json=body, headers=headers_for(body), timeout=DEADLINE)


def test_a_2026_servers_state_is_sealed_and_bound_to_it(http_front: Front) -> None:
    front = http_front
    tool = "test_input_required_result_request_state"
    first = _post(front, f"n__{tool}").json()["result"]
    assert first["resultType"] == "input_required"
    state = first["requestState"]
    answers = {"confirm": {"action": "accept", "content": {"ok": True}}}
    # Another backend's same tool, or a tampered state: refused before any backend sees it.
    for name, sent in ((f"s__{tool}", state), (f"n__{tool}", state + "A")):
        refused = _post(front, name, inputResponses=answers, requestState=sent)
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"]["code"] == -32602
    done = _post(front, f"n__{tool}", inputResponses=answers, requestState=state).json()
    assert done["result"]["content"][0]["text"] == "state-ok: confirmed=True"


HANDSHAKE_INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t"}},
}
ADDED_IN_2026 = ("resultType", "ttlMs", "cacheScope")


def _answer(response: httpx.Response) -> Any:
    """The JSON-RPC answer of a POST, a JSON body or the last ``data:`` of an SSE stream."""
    assert response.status_code == 200, response.text
    if response.headers["content-type"].startswith("application/json"):
        return response.json()
    data = [line[5:] for line in response.text.splitlines() if line.startswith("data:")]
    return json.loads(data[-1])


@pytest.mark.parametrize("prefix", PREFIXES)
def test_a_handshake_client_gets_results_in_the_handshake_form(
    http_front: Front, prefix: str
) -> None:
    """Through the reverse bridge, the 2026 server's additions (resultType, ttlMs/cacheScope,
    the serverInfo _meta) do not reach a handshake-era client: the raw JSON it gets is what
    the server gives such a client directly."""
    assert http_front.http is not None
    accept = {"Accept": "application/json, text/event-stream"}
    with httpx.Client(base_url=http_front.http.url, headers=accept, timeout=DEADLINE) as http:
        opened = http.post("", json=HANDSHAKE_INIT)
        headers = {
            "mcp-session-id": opened.headers["mcp-session-id"],
            "mcp-protocol-version": "2025-11-25",
        }
        http.post(
            "", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers
        )
        requests = {
            "tools/call": {"name": f"{prefix}__test_simple_text", "arguments": {}},
            "resources/read": {"uri": f"{prefix}+test://static-text"},
            "prompts/get": {"name": f"{prefix}__test_simple_prompt"},
        }
        for number, (method, params) in enumerate(requests.items(), start=2):
            body = {"jsonrpc": "2.0", "id": number, "method": method, "params": params}
            result = _answer(http.post("", json=body, headers=headers))["result"]
            assert not set(ADDED_IN_2026) & set(result), (method, result)
            assert "io.modelcontextprotocol/serverInfo" not in result.get("_meta", {}), result
            assert result.get("content") or result.get("contents") or result.get("messages")
