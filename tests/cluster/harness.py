"""Several real Only1MCP processes sharing one real ``redis-server``, behind a real ``haproxy``.

Nothing is mocked: ``redis-server`` (Debian) runs on a free loopback port without persistence;
each Only1MCP process is ``only1mcp start`` (the e2e harness's :class:`HttpAggregator`) over one
config naming that Redis in ``cluster.redis_url`` and a real stdio fixture server (``fx``);
``haproxy`` balances round robin without affinity, health-checks ``/healthz``, and retries a
request that met a dead process on another one (L7 retries, the body buffered). The same
haproxy config is quoted in docs/scaling.md.
"""

from __future__ import annotations

import contextlib
import copy
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis
import yaml
from e2e.conftest import (
    STARTUP_DEADLINE,
    HttpAggregator,
    free_port,
    fx_stdio_server,
    log_tail,
)
from e2e.stateless_wire import headers_for, tools_call

#: Seals 2026-07-28 request state in every process alike (front.state_keys).
STATE_KEY = "cluster-test-state-key-0123456789abcdef"
HAPROXY = "/usr/sbin/haproxy"


def backend_pid(http: httpx.Client, url: str) -> int:
    """A 2026 ``fx__pid`` call: the pid of the fixture server of the process that answered."""
    msg = tools_call("fx__pid")
    resp = http.post(url, content=orjson.dumps(msg), headers=headers_for(msg))
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    assert "result" in body, body
    return int(body["result"]["structuredContent"]["result"])


def executable(name: str, fallback: str) -> str:
    """``name`` on PATH or at ``fallback``; a missing one fails the test (make test installs it)."""
    found = shutil.which(name) or (fallback if os.access(fallback, os.X_OK) else None)
    if found is None:
        pytest.fail(f"{name} is not installed (make test installs it: apt-get install {name})")
    return found


def wait_port(port: int, proc: subprocess.Popen[bytes], log: Path, what: str) -> None:
    """Until something accepts on 127.0.0.1:``port``; fail when ``proc`` exits first."""
    end = time.monotonic() + STARTUP_DEADLINE
    while time.monotonic() < end:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with {proc.returncode}:\n{log_tail(log)}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    pytest.fail(f"{what} not listening on {port}:\n{log_tail(log)}")


def stop_process(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Send ``sig`` and reap; SIGKILL the group when it lingers."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


class RedisServer:
    """``redis-server`` on a free loopback port, no persistence; killable and restartable on
    the same port (so the processes' ``redis_url`` stays right)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log = workdir / "redis.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [
            executable("redis-server", "/usr/bin/redis-server"),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.workdir),
        ]  # fmt: skip
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_port(self.port, self.proc, self.log, "redis-server")

    def kill(self) -> None:
        """``kill -9``: Redis vanishes mid-command, as in a crash."""
        if self.proc is not None:
            stop_process(self.proc, signal.SIGKILL)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None

    def restart(self) -> None:
        self.kill()
        self.start()

    @contextlib.contextmanager
    def down(self) -> Iterator[None]:
        """Redis killed for the block, started again (empty) after it."""
        self.kill()
        try:
            yield
        finally:
            self.start()

    def client(self) -> redis.Redis:
        """A synchronous client, for a test to look at the shared state."""
        return redis.Redis.from_url(self.url, socket_timeout=2.0)


def cluster_config(
    path: Path, redis_url: str, prefix: str, extra: dict[str, Any] | None = None
) -> Path:
    """One config for every process: ``fx`` over stdio, the shared Redis, one state key;
    ``extra`` merged in (a nested dict merges, anything else replaces)."""
    config: dict[str, Any] = {
        "servers": {"fx": fx_stdio_server()},
        "front": {"state_keys": [STATE_KEY]},
        "cluster": {"redis_url": redis_url, "key_prefix": prefix},
    }
    _merge(config, copy.deepcopy(extra or {}))
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _merge(into: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


HAPROXY_CONFIG = """\
global
    maxconn 4096

defaults
    mode http
    timeout connect 1s
    timeout client 300s
    timeout server 300s
    timeout queue 5s
    # L7 retries: a request that met a dead process goes to another one; haproxy can only
    # replay what it still holds, so the (small) request bodies are buffered whole first.
    option http-buffer-request
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout

frontend mcp
    bind 127.0.0.1:{port}
    default_backend only1mcp

backend only1mcp
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
    default-server check inter 500ms fall 2 rise 1
{servers}

listen stats
    bind 127.0.0.1:{stats_port}
    stats enable
    stats uri /stats
"""


class Haproxy:
    """``haproxy`` in front of ``ports``; ``url`` is the balanced ``/mcp``."""

    def __init__(self, workdir: Path, ports: list[int]) -> None:
        self.port = free_port()
        self.stats_port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.base}/mcp"
        self.ports = ports
        self.config = workdir / "haproxy.cfg"
        self.log = workdir / "haproxy.log"
        servers = "\n".join(f"    server p{i} 127.0.0.1:{p}" for i, p in enumerate(ports))
        self.config.write_text(
            HAPROXY_CONFIG.format(port=self.port, stats_port=self.stats_port, servers=servers)
        )
        argv = [executable("haproxy", HAPROXY), "-db", "-f", str(self.config)]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_port(self.port, self.proc, self.log, "haproxy")

    def states(self) -> dict[str, str]:
        """Each server's health as haproxy sees it (``UP``, ``DOWN``, ...)."""
        csv = httpx.get(f"http://127.0.0.1:{self.stats_port}/stats;csv", timeout=2).text
        rows = [line.split(",") for line in csv.splitlines() if line.startswith("only1mcp,")]
        return {row[1]: row[17] for row in rows if row[1] not in ("FRONTEND", "BACKEND")}

    def wait_up(self, count: int, deadline: float = STARTUP_DEADLINE) -> None:
        """Until ``count`` servers are UP."""
        end = time.monotonic() + deadline
        states: dict[str, str] = {}
        while time.monotonic() < end:
            states = self.states()
            if sum(state.startswith("UP") for state in states.values()) >= count:
                return
            time.sleep(0.1)
        pytest.fail(f"haproxy: fewer than {count} servers up: {states}\n{log_tail(self.log)}")

    def stop(self) -> None:
        stop_process(self.proc)


class Cluster:
    """``count`` ``only1mcp start`` processes over one config, and haproxy in front."""

    def __init__(
        self, workdir: Path, config: Path, count: int, env: dict[str, str] | None = None
    ) -> None:
        self.workdir = workdir
        self.config = config
        self.env = None if env is None else {**os.environ, **env}
        self.nodes: list[HttpAggregator | None] = [None] * count
        self.ports = [free_port() for _ in range(count)]
        self._restarts = 0
        self.haproxy: Haproxy | None = None
        try:
            for index in range(count):
                self._spawn(index)
            for node in self.nodes:
                assert node is not None
                node.wait_healthy()
            self.haproxy = Haproxy(workdir, self.ports)
            self.haproxy.wait_up(count)
        except BaseException:
            self.close()
            raise
        self.url = self.haproxy.url

    def _spawn(self, index: int) -> HttpAggregator:
        self._restarts += 1
        log = self.workdir / f"only1mcp-{index}-{self._restarts}.log"
        node = HttpAggregator(self.config, log, self.ports[index], env=self.env)
        self.nodes[index] = node
        return node

    def node(self, index: int) -> HttpAggregator:
        node = self.nodes[index]
        assert node is not None, f"process {index} is not running"
        return node

    def url_of(self, index: int) -> str:
        """The ``/mcp`` of one process, bypassing the balancer."""
        return f"http://127.0.0.1:{self.ports[index]}/mcp"

    def kill9(self, index: int) -> int:
        """``kill -9`` process ``index`` (its backends, orphaned, are ended too); its pid."""
        node = self.node(index)
        pid = node.proc.pid
        node.proc.kill()
        node.proc.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)  # the stdio backends it started
        node.tracker.stop()
        self.nodes[index] = None
        return pid

    @property
    def balancer(self) -> Haproxy:
        assert self.haproxy is not None
        return self.haproxy

    def restart(self, index: int) -> HttpAggregator:
        """Start process ``index`` again on its port, once it is healthy."""
        if self.nodes[index] is not None:
            self.kill9(index)
        node = self._spawn(index)
        node.wait_healthy()
        return node

    def close(self) -> list[str]:
        """Stop haproxy and every process; the problems seen (unclean exits, leaks, 500s)."""
        if self.haproxy is not None:
            self.haproxy.stop()
        problems: list[str] = []
        for index, node in enumerate(self.nodes):
            if node is not None:
                problems += [f"process {index}: {p}" for p in node.stop()]
        return problems


@contextlib.contextmanager
def open_cluster(
    workdir: Path,
    redis_server: RedisServer,
    count: int = 3,
    extra: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[Cluster]:
    """A :class:`Cluster` of ``count`` processes on ``redis_server`` (its own key prefix, so
    clusters of several tests share one Redis; ``env``: more environment variables of the
    processes); stopped and checked on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    prefix = f"t{time.monotonic_ns()}:"
    config = cluster_config(workdir / "only1mcp.yaml", redis_server.url, prefix, extra)
    cluster = Cluster(workdir, config, count, env)
    try:
        yield cluster
    finally:
        problems = cluster.close()
    assert not problems, "\n".join(problems)
