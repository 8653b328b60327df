"""Backends that die, never start, or must be stopped: errors are bounded, restarts happen."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import psutil
import pytest
from mcp import Client

from .conftest import (
    FX_TIMEOUT,
    Front,
    ProcessTracker,
    call_outcome,
    fx_stdio_server,
    list_all_tools,
    open_front,
    standard_servers,
    write_config,
)

pytestmark = pytest.mark.anyio

MARGIN = 3.0
"""Slack on top of a backend's timeout before a call counts as hung."""
RECOVERY_DEADLINE = 20.0
"""How long a killed backend may take to be restarted and answer again."""


def fx_and_web(tmp_path: Path, web_server: str) -> Path:
    return write_config(
        tmp_path / "fx-web.yaml",
        {"fx": fx_stdio_server(), "web": {"url": web_server, "prefix": "web", "timeout": 20}},
    )


def tracker_of(front: Front) -> ProcessTracker:
    if front.http is not None:
        tracker = front.http.tracker
    else:
        assert front.last_stdio is not None and front.last_stdio.tracker is not None
        tracker = front.last_stdio.tracker
    tracker.snapshot()
    return tracker


async def fx_pid(client: Client) -> int:
    with anyio.fail_after(FX_TIMEOUT + MARGIN):
        result = await client.call_tool("fx__pid", {})
    assert not result.is_error, result
    assert result.structured_content is not None
    pid: int = result.structured_content["result"]
    return pid


def is_dead(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def wait_recovered(client: Client, old_pid: int) -> int:
    """Poll ``fx__echo`` until the restarted backend answers; return its new pid."""
    deadline = time.monotonic() + RECOVERY_DEADLINE
    outcome = (False, "never called")
    while time.monotonic() < deadline:
        with anyio.fail_after(FX_TIMEOUT + MARGIN):
            outcome = await call_outcome(client, "fx__echo", {"text": "recovered"})
        if outcome == (True, "recovered"):
            new_pid = await fx_pid(client)
            assert new_pid != old_pid, "fx answered from the killed pid"
            return new_pid
        await anyio.sleep(0.2)
    raise AssertionError(f"fx not back {RECOVERY_DEADLINE}s after the kill; last: {outcome}")


async def test_killed_backend_errors_then_restarts(
    launch: Callable[[Path], Front], tmp_path: Path, web_server: str
) -> None:
    front = launch(fx_and_web(tmp_path, web_server))
    async with front.client() as client:
        old_pid = await fx_pid(client)
        assert old_pid in {p.pid for p in tracker_of(front).seen}, "fx is not our descendant"
        os.kill(old_pid, signal.SIGKILL)
        started = time.monotonic()
        with anyio.fail_after(FX_TIMEOUT + MARGIN):
            ok, text = await call_outcome(client, "fx__echo", {"text": "after kill"})
        elapsed = time.monotonic() - started
        # Either the call met the dead backend (an error) or a restart already served it.
        assert ok or text, "an error without a message"
        if ok:
            assert text == "after kill"
        assert elapsed <= FX_TIMEOUT + 1.0, f"the call after the kill took {elapsed:.1f}s"
        with anyio.fail_after(FX_TIMEOUT + MARGIN):
            web_ok, web_text = await call_outcome(client, "web__echo", {"text": "unaffected"})
        assert web_ok and web_text == "unaffected", web_text
        new_pid = await wait_recovered(client, old_pid)
        assert is_dead(old_pid)
        assert new_pid in {p.pid for p in tracker_of(front).seen}, "restarted fx is not ours"


async def test_in_flight_call_fails_fast_when_backend_dies(
    launch: Callable[[Path], Front], tmp_path: Path, web_server: str
) -> None:
    front = launch(fx_and_web(tmp_path, web_server))
    async with front.client() as client:
        pid = await fx_pid(client)
        outcomes: list[tuple[bool, str, float]] = []

        async def slow_call() -> None:
            ok, text = await call_outcome(client, "fx__sleep", {"seconds": 10})
            outcomes.append((ok, text, time.monotonic()))

        async with anyio.create_task_group() as tg:
            tg.start_soon(slow_call)
            await anyio.sleep(1.0)  # the request is now inside the backend
            assert not outcomes, f"fx__sleep(10) returned early: {outcomes}"
            killed = time.monotonic()
            os.kill(pid, signal.SIGKILL)
            with anyio.fail_after(FX_TIMEOUT + MARGIN):
                while not outcomes:
                    await anyio.sleep(0.02)
        ok, text, done = outcomes[0]
        waited = done - killed
        assert not ok, f"a call whose backend was killed succeeded: {text}"
        # The timeout (5 s from the start, so 4 s after the kill) must not be what ended it.
        assert waited < 2.5, f"the in-flight call took {waited:.1f}s after the kill to fail"
        await wait_recovered(client, pid)


async def test_failed_backend_is_named_and_others_still_served(
    launch: Callable[[Path], Front], tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-mcp-server"
    config = write_config(
        tmp_path / "broken.yaml",
        {
            "broken": {"command": str(missing), "args": ["--flag"], "timeout": 5},
            "fx": fx_stdio_server(),
        },
    )
    front = launch(config)
    async with front.client() as client:
        with anyio.fail_after(30):
            tools, metas = await list_all_tools(client)
        names = [tool.name for tool in tools]
        assert {"fx__echo", "fx__add"} <= set(names), names
        assert not [n for n in names if n.startswith("broken")], names
        errors = next((m["only1mcp/errors"] for m in metas if m.get("only1mcp/errors")), None)
        assert errors, f"no _meta['only1mcp/errors'] in any tools/list page: {metas}"
        assert "broken" in errors, errors
        assert isinstance(errors["broken"], str) and errors["broken"].strip(), errors
        assert "fx" not in errors, errors
        with anyio.fail_after(FX_TIMEOUT + MARGIN):
            ok, text = await call_outcome(client, "fx__echo", {"text": "served"})
        assert ok and text == "served", text


async def test_shutdown_leaves_no_child_process(
    launch: Callable[[Path], Front], tmp_path: Path, git_repo: Path, web_server: str
) -> None:
    front = launch(write_config(tmp_path / "all.yaml", standard_servers(git_repo, web_server)))
    async with front.client() as client:
        with anyio.fail_after(30):
            tools, _ = await list_all_tools(client)
        assert len(tools) >= 20
        pid = await fx_pid(client)
        seen = tracker_of(front).seen
    commands = " ".join(p.cmdline for p in seen)
    assert pid in {p.pid for p in seen}
    assert "mcp-server-time" in commands and "mcp-server-git" in commands, commands
    if front.http is not None:
        problems = front.http.stop()  # SIGTERM, then: exited? every descendant gone?
        assert not problems, problems
        assert front.http.proc.returncode is not None
    else:
        # Leaving the client closed stdin; the harness checked a clean exit and no leftovers.
        assert front.last_stdio is not None and front.last_stdio.returncode is not None
        assert is_dead(front.last_stdio.pid)
    for info in seen:
        assert not info.alive(), f"left running: {info}"


async def test_stdio_front_sigterm_stops_every_backend(tmp_path: Path, git_repo: Path) -> None:
    config = write_config(
        tmp_path / "sigterm.yaml",
        {
            "fx": fx_stdio_server(),
            "time": standard_servers(git_repo, "http://127.0.0.1:9/mcp")["time"],
        },
    )
    with open_front("stdio", config, tmp_path / "front") as front:
        async with front.client() as client:
            with anyio.fail_after(30):
                tools, _ = await list_all_tools(client)
            assert {"fx__echo", "time__get_current_time"} <= {tool.name for tool in tools}
            assert front.last_stdio is not None
            root = front.last_stdio.pid
            seen = tracker_of(front).seen
            assert len(seen) >= 2, seen
            os.kill(root, signal.SIGTERM)
            deadline = time.monotonic() + 15
            while not is_dead(root):
                assert time.monotonic() < deadline, "only1mcp stdio ignored SIGTERM for 15s"
                await anyio.sleep(0.05)
    # Leaving the client: the harness found the process gone and checked for leftovers.
    for info in seen:
        assert not info.alive(), f"left running: {info}"
