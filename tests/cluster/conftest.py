"""Fixtures of the cluster tests: one ``redis-server`` for the session, and three Only1MCP
processes behind haproxy per module (see :mod:`cluster.harness`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cluster.harness import Cluster, RedisServer, open_cluster


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """``redis-server`` on a free loopback port; a test that kills it starts it again."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer
) -> Iterator[Cluster]:
    """Three processes sharing ``redis_server``, haproxy in front (module-shared)."""
    with open_cluster(tmp_path_factory.mktemp("cluster"), redis_server, 3) as running:
        yield running
