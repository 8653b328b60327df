"""The smoke set with the other clients: FastMCP 4's client, the TypeScript SDK client and the
MCP Inspector CLI (a black box: one process per method).

Each lists the tools, calls one tool, reads one resource and gets one prompt (what the server
offers of that, ``ServerSpec.smoke``), once against the server itself and once through Only1MCP;
the normalized answers must be equal, as in ``test_sdk_client``.

The smoke script only reads (list, one read-only tool, one resource, one prompt), so a client's
answers with a server, for every transport and side, are gathered at once on its first cell, a few
at a time (``SMOKE_CONCURRENCY``, the direct ones first): mostly they wait for a client process
to start.
"""

from __future__ import annotations

import json
import os
import subprocess
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastmcp import Client as FastMCPClient
from fastmcp.client.transports import StdioTransport, StreamableHttpTransport
from mcp.client.stdio import StdioServerParameters

from .conftest import Matrix, Served
from .known import compare, known_difference
from .normalize import Naming, difference, direct_view, through_view
from .scenarios import dump, outcome
from .servers import JS_BIN, NODE22_DIR, SERVERS, ServerSpec, Smoke, node

CLIENTS = ("fastmcp", "ts", "inspector")
TS_CLIENT = Path(__file__).with_name("ts_client.mjs")
DRIVER_TIMEOUT = 60.0
INSPECTOR_TRANSPORTS = ("stdio", "http")
INSPECTOR_SERVERS = ("sdk", "ts", "tsdual", "everything", "time")
SMOKE_CONCURRENCY = 4


def cells() -> list[Any]:
    params = []
    for spec in SERVERS:
        if spec.smoke is None:
            continue
        for client in CLIENTS:
            for transport in spec.transports:
                if client == "inspector" and (
                    transport not in INSPECTOR_TRANSPORTS or spec.name not in INSPECTOR_SERVERS
                ):
                    continue  # one process per method: the slowest client, on fewer cells
                cell = (spec.name, transport, client)
                marks = known_difference(client, spec.name, transport, "default", "smoke")
                params.append(pytest.param(cell, id="-".join(cell), marks=marks))
    return params


def exposed(smoke: Smoke, naming: Naming) -> dict[str, Any]:
    """The smoke script with the names as the target exposes them."""
    return {
        "tool": naming.tool(smoke.tool),
        "arguments": smoke.arguments,
        "resource": naming.uri(smoke.resource) if smoke.resource else None,
        "prompt": naming.tool(smoke.prompt) if smoke.prompt else None,
        "promptArguments": smoke.prompt_arguments,
    }


def filled(served: Served, smoke: Smoke) -> Smoke:
    """``smoke`` with the session directory in its arguments."""
    arguments = {k: served.fill(v) if isinstance(v, str) else v for k, v in smoke.arguments.items()}
    return Smoke(smoke.tool, arguments, smoke.resource, smoke.prompt, smoke.prompt_arguments)


async def fastmcp_smoke(target: str | StdioServerParameters, script: dict[str, Any]) -> Any:
    transport: Any
    if isinstance(target, str):
        transport = StreamableHttpTransport(target)
    else:
        env = dict(target.env or {})
        transport = StdioTransport(target.command, list(target.args), env=env, keep_alive=False)
    async with FastMCPClient(transport) as client:
        answer: dict[str, Any] = {
            "tools": dump((await client.list_tools_mcp()).tools),
            "call": await outcome(client.call_tool_mcp(script["tool"], script["arguments"])),
        }
        if script["resource"]:
            answer["resource"] = await outcome(client.read_resource_mcp(script["resource"]))
        if script["prompt"]:
            answer["prompt"] = await outcome(
                client.get_prompt_mcp(script["prompt"], script["promptArguments"])
            )
    return answer


def node_env() -> dict[str, str]:
    """Node 22 first on PATH (the Inspector CLI needs >= 22.19), a private Inspector catalog."""
    env = {**os.environ, "PATH": f"{NODE22_DIR}{os.pathsep}{os.environ.get('PATH', '')}"}
    return env


def run_json(argv: list[str], env: dict[str, str]) -> Any:
    proc = subprocess.run(
        argv, capture_output=True, text=True, env=env, timeout=DRIVER_TIMEOUT, check=False
    )
    if proc.returncode != 0:
        return {"exit": proc.returncode, "stderr": proc.stderr.strip().splitlines()[-1:]}
    return json.loads(proc.stdout)


def target_json(target: str | StdioServerParameters) -> dict[str, Any]:
    if isinstance(target, str):
        return {"url": target}
    return {"command": target.command, "args": list(target.args), "env": dict(target.env or {})}


def ts_smoke(target: str | StdioServerParameters, script: dict[str, Any]) -> Any:
    payload = json.dumps({"target": target_json(target), **script})
    return run_json([node(), str(TS_CLIENT), payload], node_env())


def inspector_smoke(
    target: str | StdioServerParameters, script: dict[str, Any], workdir: Path
) -> Any:
    env = {**node_env(), "MCP_CATALOG_PATH": str(workdir / "inspector-catalog.json")}
    head = [str(JS_BIN / "mcp-inspector"), "--cli"]
    if isinstance(target, str):
        head += ["--transport", "http"]
        tail = ["--", target]  # "--": not taken for one more --tool-arg / --prompt-args pair
    else:
        for key, value in dict(target.env or {}).items():
            if key.startswith("MEMORY_"):  # the server's own settings (PATH etc. are inherited)
                head += ["-e", f"{key}={value}"]
        tail = ["--", target.command, *target.args]  # "--": the server's options stay its own

    def run(*method: str) -> Any:
        return run_json([*head, *method, *tail], env)

    answer: dict[str, Any] = {"tools": run("--method", "tools/list")}
    call = ["--method", "tools/call", "--tool-name", script["tool"]]
    for key, value in script["arguments"].items():
        call += ["--tool-arg", f"{key}={value}"]
    answer["call"] = run(*call)
    if script["resource"]:
        answer["resource"] = run("--method", "resources/read", "--uri", script["resource"])
    if script["prompt"]:
        prompt = ["--method", "prompts/get", "--prompt-name", script["prompt"]]
        for key, value in script["promptArguments"].items():
            prompt += ["--prompt-args", f"{key}={value}"]
        answer["prompt"] = run(*prompt)
    return answer


async def smoke_answer(client: str, served: Served, transport: str, side: str) -> Any:
    spec: ServerSpec = served.spec
    assert spec.smoke is not None
    target, naming = served.direct(transport) if side == "direct" else served.through(transport)
    script = exposed(filled(served, spec.smoke), naming)
    if client == "fastmcp":
        raw = await fastmcp_smoke(target, script)
    elif client == "ts":
        raw = await anyio.to_thread.run_sync(ts_smoke, target, script)
    else:
        run = partial(inspector_smoke, target, script, served.workdir)
        raw = await anyio.to_thread.run_sync(run)
    return direct_view(raw) if side == "direct" else through_view(raw, naming)


async def smoke_answers(matrix: Matrix, server: str, client: str) -> dict[tuple[str, ...], Any]:
    """Every smoke answer of ``client`` with ``server``: (client, transport, side) → answer
    (memoized). One client at a time: a test's share stays well inside the per-test timeout."""
    served = matrix.served(server, "smoke")
    wanted = [
        (client, transport, side)
        for param in cells()
        for (name, transport, who) in [param.values[0]]
        if name == server and who == client
        for side in ("direct", "through")
    ]
    missing = [key for key in wanted if (server, "smoke", *key) not in matrix.observed]
    limiter = anyio.CapacityLimiter(SMOKE_CONCURRENCY)

    async def answer(key: tuple[str, str, str]) -> None:
        async with limiter:
            found = await smoke_answer(key[0], served, key[1], key[2])
        matrix.observed[(server, "smoke", *key)] = found

    for side in ("direct", "through"):
        # the direct answers first: a server's startup work (server-everything registers its
        # tools right after initialize) is done before any answer through Only1MCP is taken
        async with anyio.create_task_group() as group:
            for key in missing:
                if key[2] == side:
                    group.start_soon(answer, key)
    return {key: matrix.observed[(server, "smoke", *key)] for key in wanted}


@pytest.mark.anyio
@pytest.mark.parametrize("cell", cells())
async def test_smoke_same_answer(matrix: Matrix, cell: tuple[str, str, str]) -> None:
    server, transport, client = cell
    answers = await smoke_answers(matrix, server, client)
    direct = answers[(client, transport, "direct")]
    through = answers[(client, transport, "through")]
    compare((client, server, transport, "default", "smoke"), direct, through, difference)
