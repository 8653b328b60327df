"""Replica pools and resilience policies in the configuration: what is accepted, and the
message (with its key path) for each kind of mistake."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from only1mcp.config import (
    Config,
    HttpServerConfig,
    PoolServerConfig,
    Retry,
    StdioServerConfig,
    Strategy,
    load_config,
    redacted,
)
from only1mcp.errors import ConfigError


def load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "cfg.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_config(path, environ={"TOKEN": "s3cret"})


def problem(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    return str(info.value).removeprefix(f"{tmp_path / 'cfg.yaml'}: ")


POOL = """
servers:
  search:
    replicas:
      - command: search-mcp
        args: [--shard, a]
        memory_limit_mb: 512
      - url: http://127.0.0.1:9001/mcp
        headers: {Authorization: "Bearer ${TOKEN}"}
        weight: 3
    strategy: consistent_hash
    hash_key: header:X-Tenant
    retry: always
    timeout: 20
    timeouts: {tools: {reindex: 300}, max_with_progress: 600}
    health: {interval: 10, timeout: 2}
    breaker: {failures: 3, cooldown: 1}
    restart: {backoff: 0.5, backoff_max: 30, crash_loop: 5}
"""


def test_a_pool_and_its_replicas(tmp_path: Path) -> None:
    pool = load(tmp_path, POOL).servers["search"]
    assert isinstance(pool, PoolServerConfig)
    assert (pool.strategy, pool.retry, pool.hash_key) == (
        Strategy.CONSISTENT_HASH,
        Retry.ALWAYS,
        "header:X-Tenant",
    )
    stdio, http = pool.replica_servers()
    assert isinstance(stdio, StdioServerConfig) and isinstance(http, HttpServerConfig)
    assert (stdio.command, stdio.args, stdio.memory_limit_mb) == (
        "search-mcp",
        ["--shard", "a"],
        512,
    )
    # Every replica runs under the pool's policies.
    for replica in (stdio, http):
        assert replica.timeout == 20 and replica.timeouts.tools == {"reindex": 300}
        assert replica.health.interval == 10 and replica.breaker.failures == 3
        assert replica.restart.crash_loop == 5


def test_secrets_of_replicas_are_redacted(tmp_path: Path) -> None:
    dumped = redacted(load(tmp_path, POOL))
    assert "s3cret" not in str(dumped)
    assert dumped["servers"]["search"]["replicas"][1]["headers"] == {"Authorization": "***"}


def test_single_servers_take_the_policies_and_keep_their_defaults(tmp_path: Path) -> None:
    config = load(
        tmp_path, "servers: {a: {command: x, health: {interval: 0}}, b: {url: 'http://h'}}"
    )
    a, b = config.servers["a"], config.servers["b"]
    assert a.health.interval == 0 and b.health.interval == 30
    assert (b.breaker.failures, b.breaker.cooldown, b.restart.backoff) == (5, 5.0, 0.2)
    assert b.timeouts.max_with_progress is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "servers: {p: {replicas: [{command: x}], hash_key: session}}",
            "servers.p.hash_key: applies only to `strategy: consistent_hash`",
        ),
        (
            "servers: {p: {replicas: [{command: x}], strategy: consistent_hash, hash_key: cookie}}",
            "servers.p.hash_key: use `session`, `header:<Header-Name>` or `argument:<name>`",
        ),
        (
            "servers: {p: {replicas: [{command: x}], strategy: fastest}}",
            "servers.p.strategy: input should be 'round_robin', 'least_connections', "
            "'consistent_hash', 'weighted_random' or 'sticky'",
        ),
        ("servers: {p: {replicas: []}}", "servers.p.replicas: must not be empty"),
        (
            "servers: {p: {replicas: [{command: x}], command: y}}",
            "servers.p.command: a server with `replicas` has no `command` of its own; "
            "set it on each replica",
        ),
        (
            "servers: {p: {replicas: [{command: x}, {url: 'ftp://h'}]}}",
            "servers.p.replicas[1].url: must be an http:// or https:// URL",
        ),
        (
            "servers: {p: {replicas: [{args: [a]}]}}",
            "servers.p.replicas[0].command: field required",
        ),
        (
            "servers: {p: {replicas: [{command: x, weight: 0}]}}",
            "servers.p.replicas[0].weight: must be at least 1",
        ),
        (
            "servers: {p: {replicas: [{command: x, timeout: 3}]}}",
            "servers.p.replicas[0].timeout: unknown key; `timeout` applies to the whole server, "
            "not to one replica",
        ),
        (
            "servers: {p: {replicas: [{command: x}], args: [a]}}",
            "servers.p.args: unknown key; `args` goes on each entry of `replicas`",
        ),
        (
            "servers: {a: {command: x, strategy: sticky}}",
            "servers.a.strategy: unknown key; `strategy` applies only to servers with `replicas`",
        ),
        (
            "servers: {a: {url: 'http://h', weight: 2}}",
            "servers.a.weight: unknown key; `weight` applies only to servers with `replicas`",
        ),
        (
            "servers: {a: {command: x, restart: {backoff: 5, backoff_max: 1}}}",
            "servers.a.restart.backoff: must not be greater than `backoff_max`",
        ),
        (
            "servers: {a: {command: x, timeout: 60, timeouts: {max_with_progress: 30}}}",
            "servers.a.timeouts.max_with_progress: must be at least `timeout` and every "
            "per-tool timeout",
        ),
        (
            "servers: {a: {command: x, health: {interval: -1}}}",
            "servers.a.health.interval: must be at least 0",
        ),
        (
            "servers: {a: {command: x, health: {intervall: 5}}}",
            "servers.a.health.intervall: unknown key; did you mean 'interval'?",
        ),
        (
            "servers: {a: {url: 'http://h', memory_limit_mb: 100}}",
            "servers.a.memory_limit_mb: unknown key; `memory_limit_mb` applies only to stdio "
            "servers",
        ),
        (
            "servers: {a: {command: x, timeouts: {tools: {build: 0}}}}",
            "servers.a.timeouts.tools.build: must be greater than 0",
        ),
    ],
)
def test_mistakes(tmp_path: Path, text: str, expected: str) -> None:
    assert problem(tmp_path, text) == expected


def test_a_pool_dump_round_trips(tmp_path: Path) -> None:
    config = load(tmp_path, POOL)
    assert Config.model_validate(config.model_dump()) == config
