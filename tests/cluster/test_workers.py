"""``only1mcp start --workers 2``: two gateway processes on one port, supervised."""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from e2e.conftest import HttpAggregator, fx_stdio_server, write_config

from cluster.harness import backend_pid
from only1mcp.config import load_config
from only1mcp.workers import as_worker

CALLS = 24


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpAggregator]:
    workdir = tmp_path_factory.mktemp("workers")
    config = write_config(workdir / "only1mcp.yaml", {"fx": fx_stdio_server()})
    agg = HttpAggregator(config, workdir / "only1mcp.log", args=["--workers", "2"])
    agg.wait_healthy()
    yield agg
    problems = agg.stop()  # SIGTERM to the supervisor: exit 0, no process left behind
    assert not problems, problems


def worker_pids(agg: HttpAggregator) -> set[int]:
    """The supervisor's live children (a dead one not yet reaped is left out)."""
    pids = set()
    for child in psutil.Process(agg.proc.pid).children():
        with contextlib.suppress(psutil.Error):
            if child.status() != psutil.STATUS_ZOMBIE and "only1mcp" in " ".join(child.cmdline()):
                pids.add(child.pid)
    return pids


def spread(agg: HttpAggregator) -> set[int]:
    """The backend pids that answered ``CALLS`` calls, each on a new connection."""
    with httpx.Client(timeout=10, limits=httpx.Limits(max_keepalive_connections=0)) as http:
        return {backend_pid(http, agg.url) for _ in range(CALLS)}


def test_both_workers_serve_the_port(workers: HttpAggregator) -> None:
    assert len(worker_pids(workers)) == 2
    assert len(spread(workers)) == 2  # one fx per worker: both answered


def test_a_dead_worker_is_started_again(workers: HttpAggregator) -> None:
    before = worker_pids(workers)
    victim = min(before)
    psutil.Process(victim).send_signal(signal.SIGKILL)
    end = time.monotonic() + 30
    while time.monotonic() < end:
        now = worker_pids(workers)
        if len(now) == 2 and victim not in now:
            break
        time.sleep(0.1)
    assert len(now) == 2 and victim not in now, now
    workers.wait_healthy()
    # the new worker serves once ready; until then the other one takes every connection
    end = time.monotonic() + 30
    while len(spread(workers)) < 2 and time.monotonic() < end:
        time.sleep(0.2)
    assert len(spread(workers)) == 2


def test_each_worker_has_its_own_admin_port(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("servers: {t: {command: 'true'}}\nadmin: {enabled: true, port: 9100}\n")
    config = load_config(path)
    assert [as_worker(config, i).admin.port for i in range(3)] == [9100, 9101, 9102]
    path.write_text("servers: {t: {command: 'true'}}\nadmin: {enabled: true, port: 0}\n")
    assert as_worker(load_config(path), 2).admin.port == 0
