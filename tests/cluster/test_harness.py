"""The cluster harness itself: haproxy spreads 2026 calls over the three processes, keeps
answering when one is ``kill -9``-ed (its L7 retry), and the Redis fixture restarts."""

from __future__ import annotations

import httpx

from cluster.harness import Cluster, RedisServer, backend_pid


def test_round_robin_reaches_every_process(cluster: Cluster) -> None:
    with httpx.Client(timeout=10) as http:
        pids = {backend_pid(http, cluster.url) for _ in range(12)}
    assert len(pids) == 3


def test_a_killed_process_is_retried_elsewhere(cluster: Cluster) -> None:
    with httpx.Client(timeout=10) as http:
        cluster.kill9(2)
        try:
            # haproxy has not seen it fail yet: its retries carry every call meanwhile
            pids = {backend_pid(http, cluster.url) for _ in range(30)}
        finally:
            cluster.restart(2)
        assert len(pids) == 2
        cluster.balancer.wait_up(3)
        assert len({backend_pid(http, cluster.url) for _ in range(12)}) == 3


def test_redis_restarts_on_its_port(redis_server: RedisServer) -> None:
    redis_server.client().set("harness-probe", "1")
    redis_server.restart()
    client = redis_server.client()
    assert client.ping()
    assert client.get("harness-probe") is None  # no persistence: a restart is a clean slate
