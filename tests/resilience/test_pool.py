"""Replica pools against real processes: each strategy's distribution, and the faults.

The replicas are ``tiny_server.sh`` processes; ``pid`` tells which one answered.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from fixtures import tool_started

from only1mcp.backends.pool import ReplicaPool
from only1mcp.errors import BACKEND_ERROR, BACKEND_TIMEOUT

from .conftest import QUIET, Running, busy_pid, eventually, ready, running, tiny

pytestmark = pytest.mark.anyio


def pool(n: int, **settings: Any) -> dict[str, Any]:
    replicas = settings.pop("replicas", None) or [tiny() for _ in range(n)]
    return {"replicas": replicas, **QUIET, **settings}


def replicas(run: Running) -> ReplicaPool:
    backend = run.backend("p")
    assert isinstance(backend, ReplicaPool)
    return backend


def pids(run: Running) -> list[int]:
    found = [replica.pid for replica in replicas(run).replicas]
    assert None not in found
    return [pid for pid in found if pid is not None]


async def who(run: Running, **kwargs: Any) -> int:
    answer = await run.call("p__pid", **kwargs)
    assert answer.ok, answer
    return int(answer.text)


# ------------------------------------------------------------------ strategies


async def test_round_robin_takes_turns() -> None:
    async with running({"p": pool(3)}) as run:
        counts = Counter([await who(run) for _ in range(300)])
        assert sorted(counts) == sorted(pids(run))
        assert set(counts.values()) == {100}, counts


async def test_weighted_random_follows_the_weights() -> None:
    weights = [1, 2, 5]
    replicas_ = [{**tiny(), "weight": w} for w in weights]
    async with running({"p": pool(3, replicas=replicas_, strategy="weighted_random")}) as run:
        answered = await asyncio.gather(*(who(run) for _ in range(1600)))
        counts = Counter(answered)
        for pid, weight in zip(pids(run), weights, strict=True):
            share = counts[pid] / len(answered)
            assert abs(share - weight / sum(weights)) < 0.05, (counts, weights)


async def test_least_connections_avoids_the_busy_replica(tmp_path: Path) -> None:
    started = tmp_path / "started"
    replicas = [tiny(FIXTURE_STARTED_FILE=str(started)) for _ in range(3)]
    async with running({"p": pool(3, replicas=replicas, strategy="least_connections")}) as run:
        slow = asyncio.ensure_future(run.call("p__slow", {"seconds": 2}))
        await tool_started(started)  # the slow call holds one replica (a sh server is serial)
        during = Counter([await who(run) for _ in range(60)])
        answer = await slow
        assert answer.ok, answer
        busy = int(answer.text)
        assert busy not in during, f"a call went to the busy replica {busy}: {during}"
        assert len(during) == 2, during
        after = Counter([await who(run) for _ in range(60)])
        assert len(after) == 3, f"an idle pool should use every replica: {after}"


async def test_consistent_hash_keeps_each_key_on_one_replica() -> None:
    settings = {"strategy": "consistent_hash", "hash_key": "argument:user"}
    async with running({"p": pool(3, **settings)}) as run:
        owners: dict[int, set[int]] = {}
        for round_ in range(2):
            for user in range(150):
                pid = await who(run, arguments={"user": user, "round": round_})
                owners.setdefault(user, set()).add(pid)
        assert all(len(o) == 1 for o in owners.values()), "a key moved between replicas"
        shares = Counter(next(iter(o)) for o in owners.values())
        assert len(shares) == 3 and min(shares.values()) >= 25, shares


async def test_consistent_hash_by_session_and_by_header() -> None:
    settings = {"strategy": "consistent_hash", "hash_key": "header:X-Tenant"}
    async with running({"p": pool(3, **settings)}) as run:
        homes: dict[str, set[int]] = {}
        for i in range(30):
            session = run.new_session(f"s{i}")
            session.hash_headers["x-tenant"] = f"tenant-{i % 10}"
            homes.setdefault(f"tenant-{i % 10}", set()).add(await who(run, session=session))
        # Sessions of one tenant share a replica, whatever their session ids.
        assert all(len(h) == 1 for h in homes.values()), homes
        # Without the header, the session id is the key.
        bare = run.new_session("no-header")
        assert len({await who(run, session=bare) for _ in range(5)}) == 1


async def test_adding_a_replica_moves_few_keys() -> None:
    """Adding a replica to N moves at most 1/(N+1) + 5% of the keys, all to the new one."""
    keys = range(600)
    settings = {"strategy": "consistent_hash", "hash_key": "argument:key"}
    owners: list[dict[int, str]] = []
    for n in (3, 4):
        async with running({"p": pool(n, **settings)}) as run:
            label = {pid: f"replica {i}" for i, pid in enumerate(pids(run))}
            owners.append({k: label[await who(run, arguments={"key": k})] for k in keys})
    before, after = owners
    moved = [k for k in keys if before[k] != after[k]]
    assert len(moved) / len(keys) <= 1 / 4 + 0.05, len(moved)
    assert {after[k] for k in moved} == {"replica 3"}, "a key moved between old replicas"


async def test_sticky_keeps_a_session_until_its_replica_fails() -> None:
    async with running({"p": pool(3, strategy="sticky", restart={"backoff": 5})}) as run:
        sessions = [run.new_session(f"s{i}") for i in range(12)]
        homes = {}
        for session in sessions:
            seen = {await who(run, session=session) for _ in range(5)}
            assert len(seen) == 1, seen
            homes[session.id] = seen.pop()
        assert len(set(homes.values())) >= 2, f"every session on one replica: {homes}"
        first = sessions[0]
        os.kill(homes[first.id], signal.SIGKILL)
        await eventually(lambda: not all(map(ready, replicas(run).replicas)), 5, "kill seen")
        moved = {await who(run, session=first) for _ in range(5)}
        assert len(moved) == 1 and homes[first.id] not in moved, moved


# ---------------------------------------------------------------------- faults


@pytest.mark.parametrize(
    ("tool", "retry", "replayed"),
    [("slow_pid", "safe", True), ("slow", "safe", False), ("slow", "always", True)],
)
async def test_sigkill_mid_call(tmp_path: Path, tool: str, retry: str, replayed: bool) -> None:
    """The call on a killed replica is replayed elsewhere when that is safe (read-only tool, or
    ``retry: always``), else it fails at once — never a hang."""
    busy = tmp_path / "busy"
    replicas_ = [tiny(TINY_BUSY_FILE=str(busy)) for _ in range(2)]
    async with running({"p": pool(2, replicas=replicas_, retry=retry, timeout=10)}) as run:
        call = asyncio.ensure_future(run.call(f"p__{tool}", {"seconds": 1.5}))
        await eventually(busy.exists, 5, "the slow call started")
        victim = busy_pid(busy)
        busy.unlink()
        os.kill(victim, signal.SIGKILL)
        killed = time.monotonic()
        answer = await asyncio.wait_for(call, 8)
        waited = time.monotonic() - killed
        if replayed:
            assert answer.ok, answer
            assert int(answer.text) != victim and int(answer.text) in pids(run)
            assert waited < 1.5 + 1.5, f"the replay took {waited:.1f}s"
        else:
            assert not answer.ok and answer.code == BACKEND_ERROR, answer
            assert "process exited" in answer.text, answer
            assert waited < 1.5, f"the error took {waited:.1f}s after the kill"
            assert not busy.exists(), "a call that may have run was replayed"


async def test_hung_replica_trips_its_breaker_and_a_probe_brings_it_back() -> None:
    settings = {
        "timeout": 0.5,
        "breaker": {"failures": 2, "window": 30, "cooldown": 1},
        "health": {"interval": 0.2, "timeout": 0.3, "unhealthy_after": 1000},
    }
    async with running({"p": pool(2, **settings)}) as run:
        hung, healthy = pids(run)
        os.kill(hung, signal.SIGSTOP)
        try:
            outcomes = [await run.call("p__pid") for _ in range(6)]
            timeouts = [a for a in outcomes if a.code == BACKEND_TIMEOUT]
            assert len(timeouts) == 2, outcomes  # then the breaker opened
            assert replicas(run).replicas[0].breaker.state in ("open", "half_open")
            started = time.monotonic()
            moved = [await who(run) for _ in range(30)]
            assert set(moved) == {healthy}, moved
            assert time.monotonic() - started < 3.0, "traffic did not move at once"
        finally:
            os.kill(hung, signal.SIGCONT)
        breaker = replicas(run).replicas[0].breaker
        await eventually(lambda: breaker.state == "closed", 5, "the probe closed the breaker")
        back = [await run.call("p__pid") for _ in range(10)]
        assert all(a.ok for a in back), back
        assert {int(a.text) for a in back} == {hung, healthy}


async def test_every_replica_down_is_an_error_at_once() -> None:
    async with running({"p": pool(2, restart={"backoff": 10, "backoff_max": 10})}) as run:
        for pid in pids(run):
            os.kill(pid, signal.SIGKILL)
        await eventually(lambda: not any(map(ready, replicas(run).replicas)), 5, "both down")
        started = time.monotonic()
        answer = await run.call("p__pid")
        assert time.monotonic() - started < 0.2
        assert not answer.ok and answer.code == BACKEND_ERROR, answer
        assert "p[0]" in answer.text and "p[1]" in answer.text, answer
        assert "process exited" in answer.text, answer
        _, errors = await run.tool_names()
        assert "no replica can serve" in errors.get("p", ""), errors
