"""Rate limits hold for the cluster as a whole: 100 calls/s per principal across three
processes behind haproxy, measured over several seconds of more load than that."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from e2e.stateless_wire import headers_for, tools_call

from cluster.harness import Cluster, RedisServer, executable, open_cluster
from only1mcp.config.auth import hash_key

KEY = "rate-key-0123456789abcdef"
RATE = 100
WARMUP = 2
WINDOW = 5
CLIENTS = 12
ADMITTED = 400  # the call went past the gate
STATUSES = Path(__file__).with_name("statuses.lua")


@pytest.fixture(scope="module")
def limited(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer
) -> Iterator[Cluster]:
    extra = {
        "auth": {
            "modes": ["api_key"],
            "api_keys": [{"name": "load", "hash": hash_key(KEY), "roles": ["dev"]}],
        },
        "access": {
            "roles": {"dev": {"tools": ["*"]}},
            "rate_limits": {"per_principal": {"per_second": RATE, "burst": RATE}},
        },
    }
    with open_cluster(tmp_path_factory.mktemp("limited"), redis_server, 3, extra) as cluster:
        yield cluster


def drive(url: str, seconds: int) -> tuple[float, dict[int, int]]:
    """wrk at ``CLIENTS`` connections for ``seconds``: (its duration, answers by status).

    A tool no server has: admitted (and counted), then answered at once without a backend,
    so that the load exceeds the limit even on a busy machine (the 2026 era answers an
    unknown tool with HTTP 400; a refusal is 429)."""
    msg = tools_call("none__such")
    headers = {**headers_for(msg), "X-API-Key": KEY}
    argv = [
        executable("wrk", "/usr/bin/wrk"),
        "-t1", f"-c{CLIENTS}", f"-d{seconds}s", "-s", str(STATUSES), url,
        "--", orjson.dumps(msg).decode(), *(f"{k}: {v}" for k, v in headers.items()),
    ]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30).stdout
    line = next((x for x in out.splitlines() if x.startswith("STATUSES ")), None)
    assert line is not None, out
    counts = orjson.loads(line.removeprefix("STATUSES "))
    duration = counts.pop("duration_us") / 1e6
    return duration, {int(status): n for status, n in counts.items()}


def test_per_principal_limit_holds_across_processes(limited: Cluster) -> None:
    drive(limited.url, WARMUP)  # the burst is spent, every process has leased
    seconds, answers = drive(limited.url, WINDOW)
    assert set(answers) <= {ADMITTED, 429}, answers
    rate = answers.get(ADMITTED, 0) / seconds
    refused = answers.get(429, 0)
    assert refused > sum(answers.values()) / 3, f"the load did not exceed the limit: {answers}"
    assert abs(rate - RATE) <= RATE * 0.05, f"{rate:.1f} calls/s admitted, {refused} refused"
