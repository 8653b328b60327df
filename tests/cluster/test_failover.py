"""Failures of a cluster: one Only1MCP process ``kill -9``-ed under load, and Redis killed and
started again (docs/scaling.md, "What happens on each failure").

Under load: official SDK clients of both eras call through haproxy (round robin, no affinity)
while one of the three processes is killed. A 2026-07-28 call is stateless: haproxy's retry
carries it to another process, so none fails. A handshake-era session whose requests went to
the dead process goes on elsewhere (re-homed from its Redis record): no 404, and at most the
calls in flight at the kill fail. The figures are printed (``-s``) and asserted.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import anyio
import httpx
import orjson
import pytest
from e2e.conftest import text_of
from e2e.stateless_wire import headers_for, tools_call
from mcp import Client

from cluster.harness import Cluster, RedisServer, open_cluster
from cluster.wire import answer_of, call, initialize, post, sample_across

CLIENTS_PER_ERA = 3
LOAD_SECONDS = 6.0
KILL_AFTER = 2.0
CALL_BOUND = 2.0  # seconds any request may take while Redis is down (its timeout is 0.5)


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer
) -> Iterator[Cluster]:
    extra = {"metrics": {"enabled": True, "on_main": True}}
    with open_cluster(tmp_path_factory.mktemp("failover"), redis_server, 3, extra) as running:
        yield running


@dataclass
class Era:
    """What the clients of one era saw: (when it ended, ok, error) per call."""

    name: str
    calls: list[tuple[float, bool, str]] = field(default_factory=list)

    def failures(self) -> list[str]:
        return [error for _, ok, error in self.calls if not ok]

    def first_success_after(self, moment: float) -> float:
        return min(at for at, ok, _ in self.calls if ok and at > moment) - moment


async def drive(url: str, mode: str, era: Era, until: float, label: str) -> None:
    async with Client(url, mode=mode, cache=None, read_timeout_seconds=20) as client:
        number = 0
        while time.monotonic() < until:
            number += 1
            text = f"{label}-{number}"
            try:
                result = await client.call_tool("fx__echo", {"text": text})
                ok, error = text_of(result) == text and not result.is_error, text_of(result)
            except Exception as exc:  # a failed call is counted, whatever it is
                ok, error = False, f"{type(exc).__name__}: {exc}"
            era.calls.append((time.monotonic(), ok, "" if ok else error))


def warm(cluster: Cluster) -> None:
    """A handshake-era call on each process: ``fx`` speaks both eras, and its handshake face
    (a process of its own) starts on the first such call, seconds under load."""
    with httpx.Client(timeout=30) as http:
        for index in range(len(cluster.ports)):
            sid = initialize(http, cluster.url_of(index))
            answer_of(post(http, cluster.url_of(index), sid, call("fx__echo", {"text": "warm"})))


@pytest.mark.anyio
async def test_kill_9_one_process_under_load(cluster: Cluster) -> None:
    await anyio.to_thread.run_sync(warm, cluster)
    handshake, stateless = Era("handshake"), Era("2026-07-28")
    until = time.monotonic() + LOAD_SECONDS
    killed_at = 0.0
    async with anyio.create_task_group() as group:
        for number in range(CLIENTS_PER_ERA):
            group.start_soon(drive, cluster.url, "legacy", handshake, until, f"h{number}")
            group.start_soon(drive, cluster.url, "2026-07-28", stateless, until, f"s{number}")
        await anyio.sleep(KILL_AFTER)
        killed_at = time.monotonic()
        await anyio.to_thread.run_sync(cluster.kill9, 1)
    for era in (handshake, stateless):
        print(
            f"\n{era.name}: {len(era.calls)} calls, {len(era.failures())} failed, first success "
            f"{era.first_success_after(killed_at) * 1000:.0f} ms after the kill"
        )
    assert stateless.failures() == []
    assert len(handshake.failures()) <= CLIENTS_PER_ERA  # at most one in flight per client
    assert not [e for e in handshake.failures() if "not found" in e.lower() or "404" in e]
    assert len(handshake.calls) > 10 * CLIENTS_PER_ERA
    assert max(era.first_success_after(killed_at) for era in (handshake, stateless)) < 5.0
    cluster.restart(1)
    cluster.balancer.wait_up(3)


def timed_post(http: httpx.Client, url: str, sid: str, text: str) -> str:
    begun = time.monotonic()
    answer = answer_of(post(http, url, sid, call("fx__echo", {"text": text})))
    assert time.monotonic() - begun < CALL_BOUND
    return str(answer["result"]["content"][0]["text"])


def health(cluster: Cluster, index: int) -> dict[str, str]:
    base = cluster.url_of(index).removesuffix("/mcp")
    found: dict[str, str] = httpx.get(f"{base}/healthz", timeout=5).json()["cluster"]
    return found


def redis_gauge(cluster: Cluster, index: int) -> str:
    base = cluster.url_of(index).removesuffix("/mcp")
    text = httpx.get(f"{base}/metrics", timeout=5).text
    return next(line for line in text.splitlines() if line.startswith("only1mcp_cluster_redis_up"))


def until(check: object, what: str, deadline: float = 10.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if callable(check) and check():
            return
        time.sleep(0.1)
    pytest.fail(f"not within {deadline}s: {what}")


def test_redis_down_then_back(cluster: Cluster, redis_server: RedisServer) -> None:
    warm(cluster)  # a slow first call must not pass for a slow Redis
    with httpx.Client(timeout=10) as http:
        before = initialize(http, cluster.url_of(0))
        assert timed_post(http, cluster.url_of(0), before, "before") == "before"
        with redis_server.down():
            until(lambda: health(cluster, 0)["state"] == "degraded", "process 0 degraded")
            assert health(cluster, 0)["reason"]
            assert redis_gauge(cluster, 0).endswith(" 0.0")
            # each process serves its own sessions, new ones and stateless calls alone
            assert timed_post(http, cluster.url_of(0), before, "own") == "own"
            during = initialize(http, cluster.url_of(1))
            assert timed_post(http, cluster.url_of(1), during, "new") == "new"
            msg = tools_call("fx__echo", {"text": "stateless"})
            resp = http.post(cluster.url_of(2), content=orjson.dumps(msg), headers=headers_for(msg))
            assert resp.json()["result"]["content"][0]["text"] == "stateless"
            # a session only another process knows cannot move now: 404, quickly
            begun = time.monotonic()
            assert post(http, cluster.url_of(2), during, call("fx__pid", {})).status_code == 404
            assert time.monotonic() - begun < CALL_BOUND
        for index in range(3):
            until(lambda i=index: health(cluster, i)["state"] == "ok", f"process {index} back")
        assert redis_gauge(cluster, 0).endswith(" 1.0")
        # the (empty) Redis got the records again: both sessions move once more
        until(lambda: redis_server.client().dbsize() >= 2, "records written again")
        assert timed_post(http, cluster.url_of(2), before, "moved") == "moved"
        assert timed_post(http, cluster.url_of(0), during, "moved too") == "moved too"
        # and the channels are listened to again: an answer finds the process that asked
        sampler = initialize(http, cluster.url_of(0), {"sampling": {}})
        answered = sample_across(http, cluster.url_of(1), cluster.url_of(2), sampler, "back")
        assert answered == "back"
