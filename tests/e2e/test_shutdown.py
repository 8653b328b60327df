"""An orderly stop: what a client in the middle of a call sees when ``only1mcp`` is stopped.

A real aggregator in front of the SDK fixture server; calls to its ``sleep`` tool are inside the
backend (the tool appends a line to ``FIXTURE_STARTED_FILE`` as it starts, which the test awaits)
when the aggregator gets SIGTERM. The call outlasts the grace (``front.shutdown_grace``), so the
client must get the JSON-RPC error -32603 "Only1MCP is shutting down" — not a cut connection or
a 500 — after the grace and not before; the aggregator must then exit 0 leaving no backend
(the harness checks the exit, the descendants and the log for 500s). Over each front: Streamable
HTTP (handshake era and 2026-07-28), the legacy HTTP+SSE transport, and stdio.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import anyio
import psutil
import pytest
import yaml
from fixtures import STARTED_ENV, tool_started
from mcp import Client
from mcp.client.session import ClientSession
from mcp.client.sse import sse_client
from mcp.shared.exceptions import MCPError

from .conftest import Front, HttpAggregator, call_outcome, fx_stdio_server, open_front

pytestmark = pytest.mark.anyio

GRACE = 1.0
"""``front.shutdown_grace`` of these tests (seconds)."""
SLOW = 60
"""Seconds the call in flight would sleep: far past the grace and every deadline here."""
ANSWER_BY = GRACE + 4.0
"""By when, after SIGTERM, the error must have reached the client (2 shared cores)."""
SHUTTING_DOWN = "JSON-RPC error -32603: Only1MCP is shutting down"


def shutdown_config(tmp_path: Path, started: Path, grace: float = GRACE) -> Path:
    fx = fx_stdio_server(timeout=2 * SLOW)
    fx["env"] = {**fx["env"], STARTED_ENV: str(started)}
    config = {"servers": {"fx": fx}, "front": {"shutdown_grace": grace}}
    path = tmp_path / "shutdown.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def aggregator_pid(front: Front) -> int:
    if front.http is not None:
        return front.http.proc.pid
    assert front.last_stdio is not None
    return front.last_stdio.pid


async def interrupted_calls(client: Client, pid: int, started: Path, count: int) -> list[Any]:
    """Start ``count`` slow calls, SIGTERM ``pid`` once the backend runs them all; each call's
    (outcome, seconds from SIGTERM to its answer), and the backend's pid."""
    outcomes: list[Any] = []
    signalled: list[float] = []

    async def call() -> None:
        outcome = await call_outcome(client, "fx__sleep", {"seconds": SLOW})
        outcomes.append((outcome, time.monotonic() - signalled[0]))

    async with anyio.create_task_group() as tg:
        for _ in range(count):
            tg.start_soon(call)
        backend = (await tool_started(started, count))[0]
        signalled.append(time.monotonic())
        os.kill(pid, signal.SIGTERM)
    return [*outcomes, backend]


def assert_shutdown_errors(answers: list[Any], count: int) -> None:
    *outcomes, backend = answers
    assert [outcome for outcome, _ in outcomes] == [(False, SHUTTING_DOWN)] * count
    for _, after in outcomes:
        assert GRACE - 0.1 <= after <= ANSWER_BY, f"answered {after:.2f}s after SIGTERM"
    assert backend_gone(backend)


def backend_gone(pid: int) -> bool:
    """Whether the backend process ``pid`` ended (within a few seconds of the aggregator)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
@pytest.mark.parametrize("kind", ["http", "stdio"])
async def test_calls_running_at_sigterm_get_the_shutdown_error(
    tmp_path: Path, kind: str, mode: str
) -> None:
    started = tmp_path / "started"
    with open_front(kind, shutdown_config(tmp_path, started), tmp_path / "front") as front:
        async with front.client(mode=mode) as client:
            assert (await call_outcome(client, "fx__echo", {"text": "up"})) == (True, "up")
            answers = await interrupted_calls(client, aggregator_pid(front), started, count=2)
            assert_shutdown_errors(answers, count=2)
    if front.last_stdio is not None:  # over HTTP the harness checks the exit status
        assert front.last_stdio.returncode == 0


async def test_legacy_sse_call_running_at_sigterm_gets_the_shutdown_error(tmp_path: Path) -> None:
    started = tmp_path / "started"
    agg = HttpAggregator(shutdown_config(tmp_path, started), tmp_path / "only1mcp.log")
    agg.wait_healthy()
    try:
        async with sse_client(f"{agg.base}/sse") as (read, write), ClientSession(read, write) as s:
            with anyio.fail_after(20):
                await s.initialize()
            outcome: list[str] = []

            async def call() -> None:
                try:
                    await s.call_tool("fx__sleep", {"seconds": SLOW})
                except MCPError as exc:
                    outcome.append(f"JSON-RPC error {exc.code}: {exc.message}")

            async with anyio.create_task_group() as tg:
                tg.start_soon(call)
                backend = (await tool_started(started))[0]
                agg.proc.send_signal(signal.SIGTERM)
            assert outcome == [SHUTTING_DOWN]
            assert backend_gone(backend)
    finally:
        problems = agg.stop()  # exited 0? every descendant gone? no 500?
    assert not problems
