"""Reloads under load (issue 14's "Done when"): a real ``only1mcp start``, real stdio servers
(``tiny_server.sh``), 16 handshake-era sessions on 16 connections calling in a loop.

1. **Untouched**: the clients call ``steady``; meanwhile 10 reloads through the admin API add
   and remove another server and change the log level. No call may fail, and ``steady`` keeps
   its one process (never restarted).
2. **Changed**: the clients call ``moving`` (each call sleeps a little, so all 16 are in flight
   at once); one reload changes ``moving``'s config. Its callers may see at most the calls in
   flight at the reload fail (the old process drains them; in fact none should).

The numbers (calls, failures, reload durations) are printed: ``pytest -s`` shows them.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import orjson
import pytest
import yaml

from .conftest import REPO_ROOT, HttpAggregator, free_port

pytestmark = pytest.mark.anyio

TINY = REPO_ROOT / "tests" / "fixtures" / "tiny_server.sh"
CONNECTIONS = 16
RELOADS = 10
CALL_DEADLINE = 10.0
WORK = 0.005  # seconds each call of `moving` sleeps (the server answers one call at a time)
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def tiny(**extra: Any) -> dict[str, Any]:
    return {"command": "/bin/sh", "args": [str(TINY)], "timeout": 10, **extra}


@dataclass
class Load:
    """The calls of every client together."""

    tool: str
    arguments: dict[str, Any] = field(default_factory=dict)
    ok: int = 0
    failed: list[str] = field(default_factory=list)
    pids: set[str] = field(default_factory=set)
    in_flight: int = 0
    running: bool = True


async def _open_session(http: httpx.AsyncClient, url: str) -> dict[str, str]:
    params = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "l"}}
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params}
    answer = await http.post(url, content=orjson.dumps(init), headers=MCP_HEADERS)
    assert answer.status_code == 200, answer.text
    headers = {**MCP_HEADERS, "Mcp-Session-Id": answer.headers["mcp-session-id"]}
    headers["MCP-Protocol-Version"] = "2025-06-18"
    done = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    await http.post(url, content=orjson.dumps(done), headers=headers)
    return headers


async def _caller(http: httpx.AsyncClient, url: str, load: Load, ready: list[int]) -> None:
    headers = await _open_session(http, url)
    ready.append(1)
    n = 0
    while load.running:
        n += 1
        params = {"name": load.tool, "arguments": load.arguments}
        call = {"jsonrpc": "2.0", "id": n, "method": "tools/call", "params": params}
        load.in_flight += 1
        try:
            answer = await http.post(url, content=orjson.dumps(call), headers=headers)
        finally:
            load.in_flight -= 1
        if answer.status_code != 200:
            load.failed.append(f"HTTP {answer.status_code}: {answer.text[:200]}")
            continue
        msg = orjson.loads(answer.content)
        result = msg.get("result")
        if result is None or result.get("isError"):
            load.failed.append(str(msg)[:300])
        else:
            load.ok += 1
            load.pids.add(result["content"][0]["text"])


async def _under_load(url: str, load: Load, during: Any) -> Any:
    """Run CONNECTIONS callers; once all are calling, run ``during()``; then stop them."""
    limits = httpx.Limits(max_connections=CONNECTIONS)
    ready: list[int] = []
    async with (
        httpx.AsyncClient(timeout=CALL_DEADLINE, limits=limits) as http,
        anyio.create_task_group() as group,
    ):
        for _ in range(CONNECTIONS):
            group.start_soon(_caller, http, url, load, ready)
        while len(ready) < CONNECTIONS:
            await anyio.sleep(0.01)
        await anyio.sleep(0.3)  # every caller has calls done before the first reload
        try:
            return await during()
        finally:
            await anyio.sleep(0.3)  # and after the last
            load.running = False


async def _reload(admin: httpx.AsyncClient, config: Path, document: dict[str, Any]) -> float:
    config.write_text(yaml.safe_dump(document, sort_keys=False))
    answer = await admin.post("/api/config/reload")
    assert answer.status_code == 200, answer.text
    outcome = answer.json()
    assert outcome["ok"], outcome
    seconds: float = outcome["seconds"]
    return seconds


async def test_reloads_under_load(tmp_path: Path) -> None:
    port = free_port()
    base = {"servers": {"steady": tiny(), "moving": tiny()}, "admin": {"port": port}}
    config = tmp_path / "only1mcp.yaml"
    config.write_text(yaml.safe_dump(base, sort_keys=False))
    agg = HttpAggregator(
        config, tmp_path / "only1mcp.log", env={**os.environ, "ONLY1MCP_WATCH": "false"}
    )
    try:
        agg.wait_healthy()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as admin:
            with anyio.fail_after(25):
                await _untouched(agg.url, admin, config, base)
                await _changed(agg.url, admin, config, base)
    finally:
        problems = agg.stop()
    assert not problems, problems


async def _untouched(
    url: str, admin: httpx.AsyncClient, config: Path, base: dict[str, Any]
) -> None:
    load = Load("steady__pid")
    window: list[int] = []  # calls answered when the reloads began, and when they ended

    async def reloads() -> list[float]:
        seconds = []
        window.append(load.ok)
        for i in range(RELOADS):
            document = {**base, "log_level": "debug" if i % 2 else "info"}
            if i % 2 == 0:
                document["servers"] = {**base["servers"], "other": tiny()}
            seconds.append(await _reload(admin, config, document))
            await anyio.sleep(0.05)
        window.append(load.ok)
        return seconds

    started = time.monotonic()
    seconds = await _under_load(url, load, reloads)
    took = time.monotonic() - started
    during = window[1] - window[0]
    print(
        f"\nuntouched server: {load.ok} calls in {took:.1f}s on {CONNECTIONS} connections "
        f"({during} of them during the reloads), {len(load.failed)} failed; {RELOADS} reloads "
        f"of {min(seconds):.3f}-{max(seconds):.3f}s (mean {sum(seconds) / len(seconds):.3f}s)"
    )
    assert not load.failed, load.failed[:5]
    assert during >= CONNECTIONS, f"only {during} calls were answered during the reloads"
    assert len(load.pids) == 1, f"steady was restarted: {load.pids}"


async def _changed(url: str, admin: httpx.AsyncClient, config: Path, base: dict[str, Any]) -> None:
    load = Load("moving__slow", {"seconds": WORK})
    at_reload: list[int] = []

    async def change() -> float:
        at_reload.append(load.in_flight)
        moved = {**base["servers"], "moving": tiny(env={"GENERATION": "2"})}
        return await _reload(admin, config, {**base, "servers": moved})

    seconds = await _under_load(url, load, change)
    print(
        f"changed server: {load.ok} calls, {len(load.failed)} failed, {at_reload[0]} in flight "
        f"at the reload, which took {seconds:.3f}s (start of the new process + drain of the old)"
    )
    assert len(load.failed) <= at_reload[0], load.failed[:5]
    assert len(load.pids) == 2, f"moving was not restarted once: {load.pids}"
