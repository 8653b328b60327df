"""Faults seen by a real MCP client through a real ``only1mcp`` process.

A pool of SDK fixture replicas loses a replica to SIGKILL in the middle of a call; a slow
server runs beside a fast one; the aggregator is told to stop while a call is in flight. The
harness checks after each test that no process was left behind.
"""

from __future__ import annotations

import os
import signal
import statistics
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from fixtures import STARTED_ENV, tool_started
from mcp import Client

from .conftest import FX_TIMEOUT, Front, call_outcome, fx_stdio_server, list_all_tools, open_front
from .conftest import write_config as write

pytestmark = pytest.mark.anyio

BROKEN = {"command": "/bin/sh", "args": ["-c", "echo 'broken: missing API key' >&2; exit 3"]}
# Longer than any unblocked call on a loaded machine, far shorter than the wait behind a 3 s sleep.
BLOCKED_BOUND_S = 1.0


def replica(busy: Path) -> dict[str, Any]:
    entry = fx_stdio_server()
    del entry["prefix"], entry["timeout"]
    entry["env"] = {**entry["env"], "FIXTURE_BUSY_FILE": str(busy)}
    return entry


async def call_during_kill(client: Client, tool: str, busy: Path) -> tuple[bool, str, int, float]:
    """Call ``tool`` (a 2 s sleep), SIGKILL the replica serving it; (ok, text, victim, wait)."""
    outcome: list[tuple[bool, str]] = []

    async def slow_call() -> None:
        outcome.append(await call_outcome(client, tool, {"seconds": 2}))

    busy.unlink(missing_ok=True)
    async with anyio.create_task_group() as tg:
        tg.start_soon(slow_call)
        with anyio.fail_after(FX_TIMEOUT):
            while not busy.exists():
                await anyio.sleep(0.02)
        victim = int(busy.read_text())
        os.kill(victim, signal.SIGKILL)
        killed = time.monotonic()
        with anyio.fail_after(2 * FX_TIMEOUT):
            while not outcome:
                await anyio.sleep(0.02)
    return (*outcome[0], victim, time.monotonic() - killed)


async def test_killed_replica_mid_call_fails_over_only_what_is_safe(tmp_path: Path) -> None:
    busy = tmp_path / "busy"
    pool = {"replicas": [replica(busy), replica(busy)], "prefix": "fx", "timeout": FX_TIMEOUT}
    config = write(tmp_path / "pool.yaml", {"fx": pool, "broken": BROKEN})
    with open_front("http", config, tmp_path / "front") as front:
        async with front.client() as client:
            # A read-only tool: replayed on the other replica, the caller sees a success.
            ok, text, victim, waited = await call_during_kill(client, "fx__slow_pid", busy)
            assert ok and int(text) != victim, (ok, text)
            assert waited < 2 + 1.5, f"the replay took {waited:.1f}s"
            # Let the killed replica come back, so both are up for the second fault.
            await wait_for_both(client, 20)
            # Not annotated: it may have run, so it is not replayed; the caller is told at once.
            ok, text, victim, waited = await call_during_kill(client, "fx__sleep", busy)
            assert not ok and "process exited" in text, text
            assert waited < 1.5, f"the error took {waited:.1f}s after the kill"
            # The merged list: the rest is there, `_meta` says which server failed and why.
            tools, metas = await list_all_tools(client)
            assert "fx__echo" in {t.name for t in tools}
            errors = next(m["only1mcp/errors"] for m in metas if m.get("only1mcp/errors"))
            assert "broken: missing API key" in errors["broken"], errors


async def test_a_pool_of_a_process_and_a_url(tmp_path: Path, web_server: str) -> None:
    """Round robin over a stdio replica and a Streamable HTTP one: both serve, and progress
    from either reaches the caller (on the HTTP replica's stream, under the pool's ids)."""
    stdio = fx_stdio_server()
    del stdio["prefix"], stdio["timeout"]
    pool = {"replicas": [stdio, {"url": web_server}], "prefix": "fx", "timeout": FX_TIMEOUT}
    config = write(tmp_path / "mixed.yaml", {"fx": pool})
    with open_front("http", config, tmp_path / "front") as front:
        async with front.client() as client:
            answered = {(await call_outcome(client, "fx__pid", {}))[1] for _ in range(4)}
            assert len(answered) == 2, answered
            seen: list[float] = []

            async def progress(done: float, total: float | None, message: str | None) -> None:
                seen.append(done)

            for _ in range(2):  # once on each replica
                seen.clear()
                result = await client.call_tool(
                    "fx__progress_sleep", {"steps": 3, "seconds": 0.05}, progress_callback=progress
                )
                assert not result.is_error and seen == [1, 2, 3], (result, seen)


async def wait_for_both(client: Client, deadline: float) -> None:
    """Until two consecutive calls (round robin) are answered by two different processes."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        answers = [await call_outcome(client, "fx__pid", {}) for _ in range(2)]
        if all(ok for ok, _ in answers) and len({text for _, text in answers}) == 2:
            return
        await anyio.sleep(0.2)
    raise AssertionError("the killed replica did not come back")


async def latencies(client: Client, tool: str, count: int) -> list[float]:
    took = []
    for i in range(count):
        started = time.perf_counter()
        ok, text = await call_outcome(client, tool, {"text": str(i)})
        took.append(time.perf_counter() - started)
        assert ok and text == str(i), text
    return took


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98]


async def test_slow_calls_do_not_hold_up_fast_ones(tmp_path: Path) -> None:
    """Sleeping calls on one server (and on a shared pipe) leave other calls' p99 unchanged."""
    slow, fast = fx_stdio_server("slow", timeout=30), fx_stdio_server("fast")
    slow["prefix"], fast["prefix"] = "slow", "fast"
    config = write(tmp_path / "slowfast.yaml", {"slow": slow, "fast": fast})
    with open_front("http", config, tmp_path / "front") as front:
        async with front.client() as client:
            await latencies(client, "fast__echo", 20)  # warm up
            alone = await latencies(client, "fast__echo", 150)
            alone_same_pipe = await latencies(client, "slow__echo", 150)
            slept: list[tuple[bool, str]] = []

            async def sleeper() -> None:
                slept.append(await call_outcome(client, "slow__sleep", {"seconds": 3}))

            started = time.monotonic()
            async with anyio.create_task_group() as tg:
                for _ in range(20):
                    tg.start_soon(sleeper)
                await anyio.sleep(0.5)
                beside = await latencies(client, "fast__echo", 150)
                same_pipe = await latencies(client, "slow__echo", 150)
                assert not slept, "the measurement outlasted the slow calls"
            assert slept == [(True, "slept 3.0")] * 20
            assert time.monotonic() - started < 3 + 2, "the sleeps ran one after another"
    # Blocked behind a sleep, a call would wait out the rest of a 3 s sleep (>= 2.5 s); not
    # blocked, it takes milliseconds. The bound sits between the two, far from both, so a
    # loaded CI machine (which moves a p99 of a few ms by 2-20x) cannot fail it, while any
    # head-of-line blocking still does. How much the p99 moves is the load benchmarks' business.
    print(
        f"p99 fast {p99(alone) * 1e3:.1f} -> {p99(beside) * 1e3:.1f} ms beside 20 sleeps; "
        f"same pipe {p99(alone_same_pipe) * 1e3:.1f} -> {p99(same_pipe) * 1e3:.1f} ms"
    )
    assert max(beside) < BLOCKED_BOUND_S, (max(beside), p99(alone))
    assert max(same_pipe) < BLOCKED_BOUND_S, (max(same_pipe), p99(alone_same_pipe))


@pytest.mark.parametrize("kind", ["http", "stdio"])
async def test_sigterm_drains_the_call_in_flight(tmp_path: Path, kind: str) -> None:
    started = tmp_path / "started"
    fx = fx_stdio_server()
    fx["env"] = {**fx["env"], STARTED_ENV: str(started)}
    config = write(tmp_path / "drain.yaml", {"fx": fx})
    with open_front(kind, config, tmp_path / "front") as front:
        async with front.client() as client:
            assert (await call_outcome(client, "fx__echo", {"text": "up"})) == (True, "up")
            outcome: list[tuple[bool, str]] = []
            async with anyio.create_task_group() as tg:

                async def in_flight() -> None:
                    outcome.append(await call_outcome(client, "fx__sleep", {"seconds": 1.5}))

                tg.start_soon(in_flight)
                await tool_started(started)  # within the default grace (3 s)
                os.kill(aggregator_pid(front), signal.SIGTERM)
            assert outcome == [(True, "slept 1.5")], outcome


def aggregator_pid(front: Front) -> int:
    if front.http is not None:
        return front.http.proc.pid
    assert front.last_stdio is not None
    return front.last_stdio.pid
