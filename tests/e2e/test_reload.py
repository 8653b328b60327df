"""Hot reload of a real ``only1mcp start``: the file edited, SIGHUP, the admin API.

Two aggregators per module over ``tiny_server.sh`` backends: ``watched`` reloads when its file
changes; ``unwatched`` runs with ``ONLY1MCP_WATCH=false`` and reloads only on SIGHUP or the
admin API's ``POST /api/config/reload``. Each test leaves its aggregator's file as it found
it, reloaded.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import mcp_types as types
import pytest
import yaml
from mcp import Client
from mcp.shared.exceptions import MCPError

from .conftest import CLIENT_READ_TIMEOUT, REPO_ROOT, HttpAggregator, free_port

pytestmark = pytest.mark.anyio

TINY = REPO_ROOT / "tests" / "fixtures" / "tiny_server.sh"
DEADLINE = 15.0  # seconds a reload may take to show (the watcher debounces 0.2 s)


def tiny(**extra: Any) -> dict[str, Any]:
    return {"command": "/bin/sh", "args": [str(TINY)], "timeout": 5, **extra}


@dataclass
class Running:
    agg: HttpAggregator
    admin: str
    config: Path
    baseline: dict[str, Any]

    def write(self, document: dict[str, Any]) -> None:
        self.config.write_text(yaml.safe_dump(document, sort_keys=False))

    def with_servers(self, **servers: dict[str, Any]) -> dict[str, Any]:
        return {**self.baseline, "servers": {**self.baseline["servers"], **servers}}

    def overview(self) -> dict[str, Any]:
        body: dict[str, Any] = httpx.get(f"{self.admin}/api/overview", timeout=10).json()
        return body

    def generation(self) -> int:
        return int(self.overview()["config"]["generation"])

    def wait_reload(self, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The last reload's outcome, once ``check`` holds for it."""
        end = time.monotonic() + DEADLINE
        last: dict[str, Any] = {}
        while time.monotonic() < end:
            last = self.overview()["config"]["last_reload"] or {}
            if last and check(last):
                return last
            time.sleep(0.05)
        raise AssertionError(f"no such reload within {DEADLINE}s; last: {last}")

    def restore(self) -> None:
        """Back to the baseline file, applied (whichever trigger this aggregator has)."""
        before = self.generation()
        self.write(self.baseline)
        reloaded = httpx.post(f"{self.admin}/api/config/reload", timeout=30)
        assert reloaded.status_code == 200, reloaded.text
        assert self.generation() > before


@contextlib.contextmanager
def running(workdir: Path, env: dict[str, str] | None = None) -> Iterator[Running]:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    baseline = {"servers": {"a": tiny()}, "admin": {"port": port}}
    config = workdir / "only1mcp.yaml"
    config.write_text(yaml.safe_dump(baseline, sort_keys=False))
    agg = HttpAggregator(config, workdir / "only1mcp.log", env=env)
    try:
        agg.wait_healthy()
        yield Running(agg, f"http://127.0.0.1:{port}", config, baseline)
    finally:
        problems = agg.stop()
    assert not problems, problems


@pytest.fixture(scope="module")
def watched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with running(tmp_path_factory.mktemp("watched")) as agg:
        yield agg


@pytest.fixture(scope="module")
def unwatched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    env = {**os.environ, "ONLY1MCP_WATCH": "false"}
    with running(tmp_path_factory.mktemp("unwatched"), env) as agg:
        yield agg


def _client(agg: Running, mode: str, on_message: Any = None) -> Client:
    options = {} if on_message is None else {"message_handler": on_message}
    return Client(
        agg.agg.url, mode=mode, cache=None, read_timeout_seconds=CLIENT_READ_TIMEOUT, **options
    )


async def _names(client: Client) -> set[str]:
    return {tool.name for tool in (await client.list_tools()).tools}


async def test_an_edited_file_adds_a_server_and_both_eras_hear_of_it(watched: Running) -> None:
    """The handshake-era client gets notifications/tools/list_changed on its session, the
    2026 client on its subscriptions/listen stream; then the new server's tools answer."""
    seen: list[Any] = []

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ServerNotification):
            seen.append(message)

    try:
        async with (
            _client(watched, "legacy", on_message) as old,
            _client(watched, "2026-07-28") as new,
            new.listen(tools_list_changed=True) as sub,
        ):
            assert await _names(old) == {"a__pid", "a__slow", "a__slow_pid"}
            watched.write(watched.with_servers(b=tiny()))
            with anyio.fail_after(DEADLINE):
                event = await sub.__anext__()  # the 2026 client's list_changed
                while not any(isinstance(n, types.ToolListChangedNotification) for n in seen):
                    await anyio.sleep(0.02)
            assert "tools" in repr(event).lower()
            assert {"b__pid", "b__slow"} <= await _names(old)
            assert {"b__pid", "b__slow"} <= await _names(new)
            result = await new.call_tool("b__pid", {})
            assert not result.is_error and result.content
        outcome = watched.wait_reload(lambda r: r["changes"]["added"] == ["b"])
        assert outcome["ok"] and outcome["trigger"] == "file" and outcome["error"] == ""
    finally:
        watched.restore()


async def test_a_removed_server_says_it_is_gone(watched: Running) -> None:
    watched.write(watched.with_servers(b=tiny()))
    watched.wait_reload(lambda r: r["changes"]["added"] == ["b"])
    try:
        watched.write(watched.baseline)
        watched.wait_reload(lambda r: r["changes"]["removed"] == ["b"])
        async with _client(watched, "legacy") as client:
            assert await _names(client) == {"a__pid", "a__slow", "a__slow_pid"}
            with pytest.raises(MCPError) as refused:
                await client.call_tool("b__pid", {})
        assert refused.value.error.code == -32602
        gone = "Tool b__pid is gone: server 'b' left the configuration"
        assert refused.value.error.message == gone
    except Exception:
        watched.restore()
        raise


def test_an_invalid_file_keeps_the_running_config(watched: Running) -> None:
    broken = watched.with_servers(a=tiny(timeout=-1), b=tiny())
    try:
        watched.write(broken)
        outcome = watched.wait_reload(lambda r: not r["ok"])
        assert outcome["error"].startswith(f"{watched.config}: servers.a.timeout: "), outcome
        assert outcome["changes"] == {"added": [], "removed": [], "changed": []}
        tools = httpx.get(f"{watched.admin}/api/tools", timeout=10).json()["tools"]
        assert {tool["server"] for tool in tools} == {"a"}  # no b: nothing of the file applied
        metrics = httpx.get(f"{watched.admin}/metrics", timeout=10).text
        assert 'only1mcp_config_reloads_total{result="failure"}' in metrics
    finally:
        watched.restore()
    assert watched.overview()["servers_up"] == 1


def test_sighup_reloads(unwatched: Running) -> None:
    before = unwatched.generation()
    unwatched.write(unwatched.with_servers(c=tiny()))
    time.sleep(1.0)  # the watcher is off: nothing happens by itself
    assert unwatched.generation() == before
    try:
        os.kill(unwatched.agg.proc.pid, signal.SIGHUP)
        outcome = unwatched.wait_reload(lambda r: r["trigger"] == "sighup")
        assert outcome["changes"]["added"] == ["c"] and outcome["generation"] == before + 1
        assert unwatched.overview()["servers_up"] == 2
    finally:
        unwatched.restore()


def test_the_admin_reload_applies_and_names_what_needs_a_restart(unwatched: Running) -> None:
    document = unwatched.with_servers(a=tiny(timeout=7))
    document["front"] = {"port": 1, "session_ttl": 60}
    document["log_level"] = "warning"
    try:
        unwatched.write(document)
        answer = httpx.post(f"{unwatched.admin}/api/config/reload", timeout=30)
        assert answer.status_code == 200, answer.text
        outcome = answer.json()
        assert outcome["ok"] and outcome["trigger"] == "admin"
        assert outcome["changes"] == {"added": [], "removed": [], "changed": ["a"]}
        assert outcome["applied_live"] == ["log_level"]
        assert outcome["requires_restart"] == ["front.port", "front.session_ttl"]
        assert unwatched.overview()["log_level"] == "warning"
        assert unwatched.overview()["servers_up"] == 1  # a, restarted with its new config
        unwatched.write({**document, "servers": []})
        refused = httpx.post(f"{unwatched.admin}/api/config/reload", timeout=30)
        assert refused.status_code == 422
        assert "servers" in refused.json()["detail"]
    finally:
        unwatched.restore()
