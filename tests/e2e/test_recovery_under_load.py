"""A stdio server SIGKILLed under load is serving again as soon as it is restarted.

Eight clients loop ``tools/call`` through the HTTP front for ~3 s; ~1 s in the server's process
gets SIGKILL. The restarted process is a fresh instance: what the dead one's calls failed with
(they fail up to ``EXIT_DRAIN`` after the exit, by then the new process may be up) must not
count against it. So calls succeed again within 0.5 s of the kill, and the calls in between
fail as JSON-RPC errors, promptly, never as hangs or HTTP errors.

The server is ``tiny_server.sh`` (POSIX sh, starts in milliseconds): the restart itself is
then ~0.2 s (the first backoff), and anything slower is Only1MCP's doing. Its calls queue up
(it answers one at a time), so the kill fails eight calls in flight, more than the breaker's
five: before the fix they were failed 0.3 s after the exit (``EXIT_DRAIN``), after the new
process was up and the breaker reset, opened the breaker, and every call failed for its 5 s
cool-down.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx
import orjson
import pytest

from .conftest import REPO_ROOT, open_front, write_config

pytestmark = pytest.mark.anyio

TINY = REPO_ROOT / "tests" / "fixtures" / "tiny_server.sh"
CLIENTS = 8
RUN = 3.0
KILL_AT = 1.0
RECOVERED_WITHIN = 0.5
# The longest a single call may take: anything longer is a hang.
CALL_DEADLINE = 2.0
# What each call asks the server to do (seconds of sleep). The server answers one call at a
# time, so every client has a call waiting there: at the kill, all eight are in flight.
WORK = 0.01
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@dataclass
class Calls:
    """(monotonic end time, ok, error message) of every call, all clients together."""

    done: list[tuple[float, bool, str]] = field(default_factory=list)
    slowest: float = 0.0
    end: float = 0.0


async def _session(http: httpx.AsyncClient, url: str) -> dict[str, str]:
    init = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "load", "version": "1"},
        },
    }
    response = await http.post(url, content=orjson.dumps(init), headers=HEADERS)
    assert response.status_code == 200, response.text
    headers = {
        **HEADERS,
        "Mcp-Session-Id": response.headers["mcp-session-id"],
        "MCP-Protocol-Version": "2025-06-18",
    }
    note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    await http.post(url, content=orjson.dumps(note), headers=headers)
    return headers


async def _client(
    http: httpx.AsyncClient, url: str, ready: list[bool], go: anyio.Event, calls: Calls
) -> None:
    headers = await _session(http, url)
    ready.append(True)
    await go.wait()
    n = 0
    while time.monotonic() < calls.end:
        n += 1
        call = {"jsonrpc": "2.0", "id": n, "method": "tools/call"}
        call["params"] = {"name": "tiny__slow", "arguments": {"seconds": WORK}}
        started = time.monotonic()
        response = await http.post(url, content=orjson.dumps(call), headers=headers)
        finished = time.monotonic()
        calls.slowest = max(calls.slowest, finished - started)
        assert response.status_code == 200, (response.status_code, response.text[:500])
        assert b"Traceback" not in response.content
        msg = orjson.loads(response.content)
        assert msg["id"] == n, msg
        if "error" in msg:
            assert isinstance(msg["error"]["code"], int), msg
            calls.done.append((finished, False, str(msg["error"]["message"])))
        else:
            calls.done.append((finished, True, ""))


def _server_pid(front_pid: int) -> int:
    import psutil

    for child in psutil.Process(front_pid).children(recursive=True):
        try:
            if str(TINY) in child.cmdline():
                return child.pid
        except psutil.Error:
            continue
    raise AssertionError("tiny_server.sh is not running under only1mcp")


async def test_calls_succeed_again_within_half_a_second_of_a_kill(tmp_path: Path) -> None:
    server = {"command": "/bin/sh", "args": [str(TINY)], "prefix": "tiny", "timeout": 5}
    config = write_config(tmp_path / "only1mcp.yaml", {"tiny": server})
    with open_front("http", config, tmp_path / "front") as front:
        assert front.http is not None
        url = front.http.url
        calls, ready, go = Calls(), [], anyio.Event()
        limits = httpx.Limits(max_connections=CLIENTS)
        with anyio.fail_after(RUN + 20):
            async with (
                httpx.AsyncClient(timeout=CALL_DEADLINE + 1, limits=limits) as http,
                anyio.create_task_group() as group,
            ):
                for _ in range(CLIENTS):
                    group.start_soon(_client, http, url, ready, go, calls)
                while len(ready) < CLIENTS:
                    await anyio.sleep(0.01)
                calls.end = time.monotonic() + RUN
                go.set()
                await anyio.sleep(KILL_AT)
                victim = _server_pid(front.http.proc.pid)
                os.kill(victim, signal.SIGKILL)
                killed = time.monotonic()
    before = [ok for at, ok, _ in calls.done if at < killed]
    after = [(at - killed, ok, why) for at, ok, why in calls.done if at >= killed]
    assert before and all(before), "calls failed before the kill"
    failed = [(round(t, 3), why) for t, ok, why in after if not ok]
    late = [(t, why) for t, why in failed if t > RECOVERED_WITHIN]
    assert not late, f"{len(late)} calls failed later than {RECOVERED_WITHIN}s: {late[:5]}"
    recovered = [t for t, ok, _ in after if ok]
    assert recovered and recovered[0] <= RECOVERED_WITHIN, (recovered[:1], failed[-3:])
    assert sum(ok for _, ok, _ in after) > 20, "too few calls succeeded after the restart"
    assert calls.slowest < CALL_DEADLINE, f"a call took {calls.slowest:.2f}s"
    assert all("tiny" in why for _, why in failed), failed[:5]
