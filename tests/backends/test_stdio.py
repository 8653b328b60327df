"""The stdio backend against real child processes: supervision, timeouts, clean shutdown."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import orjson
import psutil
import pytest

from only1mcp.backends import BackendState, eras
from only1mcp.backends.stdio import StdioBackend
from only1mcp.config import StdioServerConfig
from only1mcp.errors import BackendError, BackendTimeout

FIXTURE = str(Path(__file__).resolve().parents[1] / "fixtures" / "fixture_server.py")
pytestmark = pytest.mark.anyio


def _backend(
    *args: str, timeout: float = 10.0, command: str = sys.executable, **options: object
) -> StdioBackend:
    config = StdioServerConfig(command=command, args=list(args), timeout=timeout, **options)
    return StdioBackend("fx", config)


async def _call(backend: StdioBackend, tool: str, arguments: dict[str, object]) -> object:
    return await backend.call("tools/call", {"name": tool, "arguments": arguments})


async def _wait_ready(backend: StdioBackend, deadline: float = 20.0) -> None:
    end = time.monotonic() + deadline
    while backend.state is not BackendState.READY:
        assert time.monotonic() < end, f"not back: {backend.last_error}"
        await asyncio.sleep(0.05)


async def test_handshake_and_call() -> None:
    backend = _backend(FIXTURE)
    await backend.start()
    try:
        assert backend.state is BackendState.READY
        assert "tools" in backend.capabilities
        result = await _call(backend, "echo", {"text": "hi"})
        assert isinstance(result, dict)
        assert result["content"][0]["text"] == "hi"
    finally:
        await backend.close()
    assert backend.state is BackendState.CLOSED


async def test_responses_are_matched_to_their_requests_under_concurrency() -> None:
    backend = _backend(FIXTURE)
    await backend.start()
    try:
        texts = [f"m{i}" for i in range(50)]
        results = await asyncio.gather(*(_call(backend, "echo", {"text": t}) for t in texts))
        assert [r["content"][0]["text"] for r in results] == texts  # type: ignore[index]
    finally:
        await backend.close()


async def test_killed_child_fails_pending_then_restarts() -> None:
    backend = _backend(FIXTURE)
    await backend.start()
    try:
        pid = backend.pid
        assert pid is not None
        pending = asyncio.ensure_future(_call(backend, "sleep", {"seconds": 30}))
        await asyncio.sleep(0.3)
        started = time.monotonic()
        os.kill(pid, 9)
        with pytest.raises(BackendError, match="is down"):
            await pending
        assert time.monotonic() - started < 2.0
        await _wait_ready(backend)
        assert backend.pid != pid
        assert backend.restarts == 1
        result = await _call(backend, "echo", {"text": "back"})
        assert result["content"][0]["text"] == "back"  # type: ignore[index]
    finally:
        await backend.close()


async def test_missing_command_is_a_clear_error() -> None:
    backend = _backend(command="/nonexistent/mcp-server")
    with pytest.raises(BackendError, match="could not start '/nonexistent/mcp-server'"):
        await backend.start()
    assert backend.state is BackendState.DOWN
    await backend.close()


async def test_a_server_that_never_answers_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    # A starting server gets max(timeout, STARTUP_TIMEOUT) for its first answer.
    monkeypatch.setattr(eras, "STARTUP_TIMEOUT", 1.0)
    backend = _backend("-c", "import time; time.sleep(60)", timeout=0.5)
    started = time.monotonic()
    with pytest.raises(BackendTimeout, match=r"did not answer initialize within 1s"):
        await backend.start()
    assert time.monotonic() - started < 5.0
    await backend.close()


async def test_each_request_times_out_at_its_own_deadline() -> None:
    """One timer serves every pending request: a shorter deadline added later still fires on
    time, a longer one is not cut short, and the server keeps answering the others."""
    # Handshake era: a 2026 one would hold a standing listen request in the same table.
    backend = _backend(FIXTURE, timeout=30.0, protocol="handshake")
    await backend.start()
    try:
        params = {"name": "sleep", "arguments": {"seconds": 5}}
        started = time.monotonic()
        long = asyncio.ensure_future(backend.request("tools/call", params, timeout=1.2))
        await asyncio.sleep(0.1)
        with pytest.raises(BackendTimeout, match=r"within 0\.3s"):
            await backend.request("tools/call", params, timeout=0.3)
        assert 0.35 < time.monotonic() - started < 1.0
        assert await _call(backend, "echo", {"text": "still here"})
        with pytest.raises(BackendTimeout, match=r"within 1\.2s"):
            await long
        assert 1.15 < time.monotonic() - started < 2.5
        assert backend._pending == {}
        with pytest.raises(BackendTimeout, match=r"within 0\.2s"):  # the timer re-arms
            await backend.request("tools/call", params, timeout=0.2)
    finally:
        await backend.close()


async def test_crash_at_start_backs_off_without_spinning() -> None:
    backend = _backend("-c", "raise SystemExit(3)", timeout=2.0)
    with pytest.raises(BackendError):
        await backend.start()
    await asyncio.sleep(2.0)
    # Backoff 0.2, 0.4, 0.8 s ...: a handful of attempts in two seconds, not hundreds.
    assert backend.state is BackendState.DOWN
    attempts = backend.supervisor.failures
    await backend.close()
    assert 1 <= attempts <= 5


async def test_close_reaches_grandchildren() -> None:
    # A server that starts a helper process of its own, then serves MCP.
    script = (
        "import subprocess, sys, runpy; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
        f"sys.argv = [{FIXTURE!r}]; runpy.run_path({FIXTURE!r}, run_name='__main__')"
    )
    backend = _backend("-c", script)
    await backend.start()
    pid = backend.pid
    assert pid is not None
    family = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    assert len(family) >= 2
    await backend.close()
    _gone, alive = psutil.wait_procs(family, timeout=5)
    assert not alive, [p.cmdline() for p in alive]


async def test_non_json_stdout_lines_are_skipped() -> None:
    script = (
        "import sys, runpy; print('hello from a chatty server', flush=True); "
        f"sys.argv = [{FIXTURE!r}]; runpy.run_path({FIXTURE!r}, run_name='__main__')"
    )
    backend = _backend("-c", script)
    await backend.start()
    try:
        frame = await backend.request("tools/list")
        assert orjson.loads(frame)["result"]["tools"]
    finally:
        await backend.close()
