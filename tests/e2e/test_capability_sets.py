"""A client gets through Only1MCP the tools it gets directly, whatever capabilities it declares
(issue 11): a shared server whose lists vary with them gets an instance per capability set.

``@modelcontextprotocol/server-everything`` (npm) over stdio registers ``get-roots-list`` for a
client with roots, ``trigger-sampling-request`` with sampling, ``trigger-elicitation-request``
with elicitation (``trigger-url-elicitation`` with URL elicitation). Behind Only1MCP beside it:
the fixture server spoken to the handshake way, whose lists do not vary — it keeps its one
process. Clients of both eras declare different sets; the processes stay bounded.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import mcp_types as types
import psutil
import pytest
from differential.servers import JS_BIN, node

from .conftest import (
    Front,
    fx_stdio_server,
    open_front,
    run_watched,
    sampled,
    text_of,
    write_config,
)
from .stateless_wire import V, headers_for

pytestmark = pytest.mark.anyio

EVERYTHING_BIN = "mcp-server-everything"
CONDITIONAL = {
    "everything__get-roots-list": "roots",
    "everything__trigger-sampling-request": "sampling",
    "everything__trigger-elicitation-request": "elicitation",
    "everything__trigger-url-elicitation": "url",
}
DEADLINE = 60.0


@pytest.fixture(scope="module")
def capability_front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Front]:
    workdir = tmp_path_factory.mktemp("capability-sets")
    everything = {
        "command": node(),
        "args": [str(JS_BIN / EVERYTHING_BIN), "stdio"],
        "timeout": 30,
    }
    fx = {**fx_stdio_server(), "protocol": "handshake"}
    config = write_config(workdir / "only1mcp.yaml", {"everything": everything, "fx": fx})
    with open_front("http", config, workdir) as front:
        yield front


def processes(front: Front) -> dict[str, int]:
    """The only1mcp process's live backends: server-everything's and the fixture server's."""
    assert front.http is not None
    counts = {"everything": 0, "fx": 0}
    for child in psutil.Process(front.http.proc.pid).children(recursive=True):
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                continue
            cmdline = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if EVERYTHING_BIN in cmdline:
            counts["everything"] += 1
        elif "--name fx" in cmdline:
            counts["fx"] += 1
    return counts


async def settled(front: Front, expected: dict[str, int]) -> dict[str, int]:
    """The process counts once the probes that were not kept have stopped."""
    with anyio.move_on_after(10):
        while processes(front) != expected:
            await anyio.sleep(0.1)
    return processes(front)


def conditional(names: list[str]) -> set[str]:
    """Which capabilities the conditional tools among ``names`` stand for."""
    return {CONDITIONAL[name] for name in names if name in CONDITIONAL}


async def _paris(context: Any, params: types.CreateMessageRequestParams) -> Any:
    return sampled("Paris")


async def _accept(context: Any, params: Any) -> Any:
    return types.ElicitResult(action="decline")


async def _roots(context: Any) -> Any:
    return types.ListRootsResult(roots=[types.Root(uri="file:///tmp", name="tmp")])


async def tool_names(front: Front, **callbacks: Any) -> list[str]:
    async with front.client(mode="legacy", **callbacks) as client:
        return [tool.name for tool in (await client.list_tools()).tools]


async def test_each_client_sees_the_tools_of_its_own_capabilities(
    capability_front: Front,
) -> None:
    # Decided in the background once the gateway is ready: this first client, there as soon
    # as it is, waits for the decisions rather than seeing the full set's tools.
    none = await tool_names(capability_front)
    assert conditional(none) == set()
    assert "everything__echo" in none and "fx__echo" in none
    # the server that does not vary is left with one process; server-everything with its
    # shared backend and the instance of the set with no capability (its probe, kept)
    counts = await settled(capability_front, {"everything": 2, "fx": 1})
    assert counts == {"everything": 2, "fx": 1}
    sampling = await tool_names(capability_front, sampling_callback=_paris)
    assert conditional(sampling) == {"sampling"}
    everything = await tool_names(
        capability_front,
        sampling_callback=_paris,
        elicitation_callback=_accept,
        list_roots_callback=_roots,
    )
    assert conditional(everything) >= {"roots", "sampling", "elicitation"}
    # the server that does not vary kept its one process; server-everything has its shared
    # backend (every capability) and one instance per other set seen (none, sampling)
    counts = await settled(capability_front, {"everything": 3, "fx": 1})
    assert counts["fx"] == 1, counts
    assert counts["everything"] <= 3, counts


async def test_a_call_reaches_the_instance_of_its_set(capability_front: Front) -> None:
    """The sampling tool, called by a client with sampling only: its instance asks, the
    client's callback answers."""
    async with capability_front.client(mode="legacy", sampling_callback=_paris) as client:
        result = await client.call_tool(
            "everything__trigger-sampling-request", {"prompt": "capital of France", "maxTokens": 5}
        )
    assert "Paris" in text_of(result), text_of(result)


_ids = itertools.count(1)


def envelope(capabilities: dict[str, Any]) -> dict[str, Any]:
    return {
        "io.modelcontextprotocol/protocolVersion": V,
        "io.modelcontextprotocol/clientCapabilities": capabilities,
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
    }


async def post(
    http: httpx.AsyncClient, front: Front, method: str, params: dict[str, Any]
) -> dict[str, Any]:
    assert front.http is not None
    body = {"jsonrpc": "2.0", "id": next(_ids), "method": method, "params": params}
    resp = await http.post(front.http.url, json=body, headers=headers_for(body))
    assert resp.status_code == 200, resp.text
    answer: dict[str, Any] = resp.json()
    assert "result" in answer, answer
    return answer["result"]


# Six capability sets of 2026 clients (one declared two ways: the same set).
SETS: list[dict[str, Any]] = [
    {},
    {"roots": {}},
    {"roots": {"listChanged": True}},
    {"sampling": {}},
    {"elicitation": {"form": {}}},
    {"sampling": {}, "roots": {}},
    {"roots": {}, "sampling": {}, "junk": {"x": 1}},
]


async def test_2026_load_with_mixed_sets_keeps_processes_bounded(
    capability_front: Front,
) -> None:
    seen: list[dict[str, int]] = []
    wrong: list[str] = []

    async def client(http: httpx.AsyncClient, worker: int) -> None:
        for n in range(6):
            caps = SETS[(worker + n) % len(SETS)]
            listed = await post(http, capability_front, "tools/list", {"_meta": envelope(caps)})
            names = [tool["name"] for tool in listed["tools"]]
            want = {c for c in ("roots", "sampling") if c in caps}
            if "elicitation" in caps:
                want.add("elicitation")
            if conditional(names) != want:
                wrong.append(f"{caps}: {sorted(conditional(names))}")
            arguments = {"message": f"{worker}-{n}"}
            params = {"name": "everything__echo", "arguments": arguments, "_meta": envelope(caps)}
            called = await post(http, capability_front, "tools/call", params)
            assert called["content"][0]["text"] == f"Echo: {worker}-{n}", called

    async def watch() -> None:
        while True:
            seen.append(processes(capability_front))
            await anyio.sleep(0.05)

    async with httpx.AsyncClient(timeout=DEADLINE, trust_env=False) as http:
        workers = [functools.partial(client, http, worker) for worker in range(16)]
        await run_watched(watch, workers, DEADLINE)
    assert not wrong, wrong
    # sets: full (shared), {}, roots, roots+listChanged, sampling, elicitation, sampling+roots
    most = max(count["everything"] for count in seen)
    assert most <= 7, seen
    assert max(count["fx"] for count in seen) == 1, seen  # probed before any client came
    # kept: the shared backend and {}, roots, sampling, elicitation, sampling+roots (roots
    # with listChanged lists as roots does: its instance stopped, the set shares that one)
    assert await settled(capability_front, {"everything": 6, "fx": 1}) == {
        "everything": 6,
        "fx": 1,
    }
