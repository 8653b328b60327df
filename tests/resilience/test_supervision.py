"""Supervision against real processes: crash loops, restarts by the thousand, memory caps,
health checks, per-tool timeouts and timeouts that progress extends."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from only1mcp.backends import BackendState, create_backend
from only1mcp.backends.stdio import EXIT_DRAIN
from only1mcp.config import StdioServerConfig
from only1mcp.errors import BACKEND_ERROR, BACKEND_TIMEOUT

from .conftest import QUIET, TINY_SERVER, alive, eventually, ready, running, sdk_fixture, tiny

pytestmark = pytest.mark.anyio

LIST_CHANGED = b"notifications/tools/list_changed"


def crashing(message: str = "fatal: no configuration") -> dict[str, Any]:
    return {"command": "/bin/sh", "args": ["-c", f"echo '{message}' >&2; exit 3"]}


def failed_restarts(problem: str) -> int:
    match = re.search(r"crash loop \((\d+) failed restarts in a row\)", problem)
    assert match, problem
    return int(match.group(1))


def restarts_so_far(backend: Any) -> int:
    """The failed restarts in a row a crash-looping backend reports (0 before it says)."""
    match = re.search(r"crash loop \((\d+) failed restarts in a row\)", backend.problem)
    return int(match.group(1)) if match else 0


async def test_command_that_crashes_at_start_backs_off_and_is_marked_down() -> None:
    # Health checks on, and frequent: their monitor must idle while the server is down.
    bad = {**crashing(), "health": {"interval": 0.1}}
    async with running({"bad": bad, "ok": {**tiny(), **QUIET}}) as run:
        bad = run.backend("bad")
        assert bad.state is BackendState.DOWN
        cpu = time.process_time()
        took = await eventually(lambda: restarts_so_far(bad) >= 4, 10, "4 failed restarts", 0.05)
        spent = time.process_time() - cpu
        # Backoff 0.2 s doubling: restarts at 0.2, 0.6, 1.4 and 3.0 s, the next at 6.2 s — a
        # spin would be far past 4 by the time the 4th is seen, and would burn CPU.
        assert failed_restarts(bad.problem) == 4, bad.problem
        assert spent < 0.5, f"the aggregator used {spent:.2f}s of CPU in {took:.1f}s"
        names, errors = await run.tool_names()
        assert names == {"ok__pid", "ok__slow", "ok__slow_pid"}, names
        assert "fatal: no configuration" in errors["bad"], errors  # the stderr tail
        assert "exited with code 3" in errors["bad"], errors
        assert (await run.call("ok__pid")).ok


async def test_crash_loop_takes_the_tools_out_and_recovery_brings_them_back(
    tmp_path: Path,
) -> None:
    flag = tmp_path / "broken"
    script = f"if [ -e {flag} ]; then echo 'cannot start' >&2; exit 3; fi; exec sh {TINY_SERVER}"
    server = {
        "command": "/bin/sh",
        "args": ["-c", script],
        "restart": {"backoff": 0.05, "backoff_max": 0.3, "crash_loop": 3},
        **QUIET,
    }
    async with running({"c": server, "ok": {**tiny(), **QUIET}}) as run:
        backend = run.backend("c")
        names, _ = await run.tool_names()
        assert "c__pid" in names
        flag.touch()
        pid = backend.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        await eventually(lambda: backend.crash_looping, 5, "crash loop detected")
        names, errors = await run.tool_names()
        assert not any(n.startswith("c__") for n in names) and "ok__pid" in names, names
        assert "crash loop" in errors["c"] and "cannot start" in errors["c"], errors
        assert any(LIST_CHANGED in frame for _, frame in run.session.events)
        answer = await run.call("c__pid")
        assert not answer.ok and "Unknown tool" in answer.text, answer
        seen = run.session.events.last_id
        flag.unlink()
        await eventually(lambda: ready(backend), 5, "recovered")

        def listed() -> bool:
            return any(t["name"] == "c__pid" for t in run.gateway.catalogs["tools"].merged())

        await eventually(listed, 5, "the tools are back")
        assert any(LIST_CHANGED in frame for _, frame in run.session.events.after(seen))
        assert (await run.call("c__pid")).ok


async def test_a_thousand_restarts_leak_no_process_and_no_fd() -> None:
    config = StdioServerConfig(
        command="/bin/sh",
        args=[TINY_SERVER],
        restart={"backoff": 0.001, "backoff_max": 0.001, "crash_loop": 1_000_000},
        health={"interval": 0},
    )
    backend = create_backend("tiny", config, None)
    me = psutil.Process()
    others = {child.pid for child in me.children(recursive=True)}  # other tests' servers
    fds = me.num_fds()
    threads = me.num_threads()
    await backend.start()
    seen: set[int] = set()
    try:
        for _ in range(1000):
            pid = backend.pid
            assert pid is not None
            seen.add(pid)
            os.kill(pid, signal.SIGKILL)
            await eventually(lambda old=pid: ready(backend) and backend.pid != old, 5, "up", 0.001)
        assert backend.restarts == 1000
        answer = await backend.call("tools/call", {"name": "pid", "arguments": {}})
        assert int(answer["content"][0]["text"]) == backend.pid
    finally:
        await backend.close()
    # Not a guess at how long something takes: a dead process's transport is closed by a
    # timer EXIT_DRAIN after its exit, and the last ones' timers must fire before the loop ends.
    await asyncio.sleep(2 * EXIT_DRAIN)
    assert len(seen) == 1000
    assert not [pid for pid in seen if alive(pid) and psutil.Process(pid).status() != "zombie"]
    assert {child.pid for child in me.children(recursive=True)} <= others
    assert me.num_fds() <= fds + 2, f"fds: {fds} before, {me.num_fds()} after"
    assert me.num_threads() <= threads + 2


async def test_memory_cap_restarts_the_process() -> None:
    server = {
        **sdk_fixture(),
        "protocol": "handshake",  # one process (two-era under auto: a face would take the call)
        "memory_limit_mb": 150,
        "health": {"interval": 0.2},
    }
    async with running({"fx": server}) as run:
        backend = run.backend("fx")
        before = backend.pid
        answer = await run.call("fx__hog", {"megabytes": 200})
        # The cap may be seen before the answer leaves: then the call says why it failed.
        assert answer.ok or "memory cap: " in answer.text, answer
        await eventually(lambda: ready(backend) and backend.pid != before, 20, "restarted")
        assert not alive(before) or psutil.Process(before).status() == "zombie"
        assert (await run.call("fx__echo", {"text": "back"})).text == "back"


async def test_unhealthy_server_fails_fast_until_it_answers_again() -> None:
    server = {**tiny(), "timeout": 5, "health": {"interval": 0.2, "timeout": 0.2}}
    async with running({"t": server}) as run:
        backend = run.backend("t")
        pid = backend.pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        try:
            await eventually(lambda: not backend.healthy, 3, "marked unhealthy")
            started = time.monotonic()
            answer = await run.call("t__pid")
            assert time.monotonic() - started < 0.2, "an unhealthy server should fail at once"
            assert answer.code == BACKEND_ERROR and "health checks" in answer.text, answer
            _, errors = await run.tool_names()
            assert "health checks" in errors["t"], errors
        finally:
            os.kill(pid, signal.SIGCONT)
        await eventually(lambda: backend.healthy, 3, "healthy again")
        assert (await run.call("t__pid")).ok


async def test_per_tool_timeouts_and_progress_extends_a_call() -> None:
    server = {
        **sdk_fixture(),
        "protocol": "handshake",  # the call is timed: no handshake face to start first
        "timeout": 3,  # the handshake's (the SDK server takes a while to start)
        "timeouts": {"tools": {"sleep": 0.3, "progress_sleep": 0.5}, "max_with_progress": 3},
        **QUIET,
    }
    async with running({"fx": server}) as run:

        async def timed(tool: str, arguments: dict[str, Any], token: str | None = None) -> Any:
            params: dict[str, Any] = {"name": tool, "arguments": arguments}
            if token:
                params["_meta"] = {"progressToken": token}
            started = time.monotonic()
            answer = await run.request("tools/call", params)
            return answer, time.monotonic() - started

        answer, took = await timed("fx__sleep", {"seconds": 1})
        assert answer["error"]["code"] == BACKEND_TIMEOUT and 0.25 < took < 0.7, (answer, took)
        steps = {"steps": 4, "seconds": 0.2}  # 0.8 s in all, a step every 0.2 s
        answer, took = await timed("fx__progress_sleep", steps)
        assert answer["error"]["code"] == BACKEND_TIMEOUT and took < 0.75, (answer, took)
        answer, took = await timed("fx__progress_sleep", steps, token="t1")
        assert "result" in answer and took > 0.75, (answer, took)
        progress = [f for _, f in run.session.events if b"notifications/progress" in f]
        assert len(progress) == 4 and all(b'"t1"' in f for f in progress), progress
        # Progress extends a call up to max_with_progress, not beyond.
        answer, took = await timed("fx__progress_sleep", {"steps": 20, "seconds": 0.2}, "t2")
        assert answer["error"]["code"] == BACKEND_TIMEOUT and 2.9 < took < 3.5, (answer, took)
