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
import yaml
from e2e.conftest import text_of
from e2e.stateless_wire import headers_for, tools_call
from mcp import Client

from cluster.harness import Cluster, RedisServer, open_cluster
from cluster.wire import answer_of, call, initialize, post, sample_across

CLIENTS_PER_ERA = 3
KILL_AFTER = 2.0  # seconds of load before the kill, once every client is calling
LOAD_AFTER_KILL = 4.0
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
    """What the clients of one era saw: (when it ended, ok, error, client) per call."""

    name: str
    calls: list[tuple[float, bool, str, str]] = field(default_factory=list)

    def failures(self) -> list[str]:
        return [error for _, ok, error, _ in self.calls if not ok]

    def first_success_after(self, moment: float) -> float:
        return min(at for at, ok, _, _ in self.calls if ok and at > moment) - moment

    def clients_going_on(self, moment: float) -> set[str]:
        """The clients with a successful call that ended after ``moment``."""
        return {label for at, ok, _, label in self.calls if ok and at > moment}

    def clients(self) -> set[str]:
        return {label for *_, label in self.calls}


async def drive(url: str, mode: str, era: Era, stop: anyio.Event, label: str) -> None:
    """Call ``fx__echo`` in a loop until ``stop``."""
    async with Client(url, mode=mode, cache=None, read_timeout_seconds=20) as client:
        number = 0
        while not stop.is_set():
            number += 1
            text = f"{label}-{number}"
            try:
                result = await client.call_tool("fx__echo", {"text": text})
                ok, error = text_of(result) == text and not result.is_error, text_of(result)
            except Exception as exc:  # a failed call is counted, whatever it is
                ok, error = False, f"{type(exc).__name__}: {exc}"
            era.calls.append((time.monotonic(), ok, "" if ok else error, label))


def warm(cluster: Cluster) -> None:
    """A handshake-era call on each process: ``fx`` speaks both eras, and its handshake face
    (a process of its own) starts on the first such call, seconds under load."""
    with httpx.Client(timeout=30) as http:
        for index in range(len(cluster.ports)):
            sid = initialize(http, cluster.url_of(index))
            answer_of(post(http, cluster.url_of(index), sid, call("fx__echo", {"text": "warm"})))


async def until_all_called(eras: tuple[Era, ...], deadline: float = 60.0) -> None:
    """Until every client made a call (connecting takes seconds on a loaded machine)."""
    end = time.monotonic() + deadline
    while any(len(era.clients()) < CLIENTS_PER_ERA for era in eras):
        assert time.monotonic() < end, "the clients did not get going"
        await anyio.sleep(0.1)


@pytest.mark.anyio
async def test_kill_9_one_process_under_load(cluster: Cluster) -> None:
    await anyio.to_thread.run_sync(warm, cluster)
    handshake, stateless = Era("handshake"), Era("2026-07-28")
    stop = anyio.Event()
    try:
        async with anyio.create_task_group() as group:
            for number in range(CLIENTS_PER_ERA):
                group.start_soon(drive, cluster.url, "legacy", handshake, stop, f"h{number}")
                group.start_soon(drive, cluster.url, "2026-07-28", stateless, stop, f"s{number}")
            await until_all_called((handshake, stateless))
            await anyio.sleep(KILL_AFTER)
            killed_at = time.monotonic()
            await anyio.to_thread.run_sync(cluster.kill9, 1)
            await anyio.sleep(LOAD_AFTER_KILL)
            stop.set()
    finally:
        await anyio.to_thread.run_sync(cluster.restart, 1)
        await anyio.to_thread.run_sync(cluster.balancer.wait_up, 3)
    for era in (handshake, stateless):
        print(
            f"\n{era.name}: {len(era.calls)} calls, {len(era.failures())} failed, first success "
            f"{era.first_success_after(killed_at) * 1000:.0f} ms after the kill"
        )
    assert stateless.failures() == []
    assert len(handshake.failures()) <= CLIENTS_PER_ERA  # at most one in flight per client
    assert not [e for e in handshake.failures() if "not found" in e.lower() or "404" in e]
    # every session went on after the kill (a third of them had their next call on the dead one)
    for era in (handshake, stateless):
        assert era.clients_going_on(killed_at) == era.clients()


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
        prefix = yaml.safe_load(cluster.config.read_text())["cluster"]["key_prefix"]
        records = [f"{prefix}session:{sid}" for sid in (before, during)]
        # these two sessions' own records (other tests' sessions come back too, so no count)
        until(lambda: redis_server.client().exists(*records) == 2, "records written again")
        assert timed_post(http, cluster.url_of(2), before, "moved") == "moved"
        assert timed_post(http, cluster.url_of(0), during, "moved too") == "moved too"
        # and the channels are listened to again: an answer finds the process that asked
        sampler = initialize(http, cluster.url_of(0), {"sampling": {}})
        answered = sample_across(http, cluster.url_of(1), cluster.url_of(2), sampler, "back")
        assert answered == "back"
