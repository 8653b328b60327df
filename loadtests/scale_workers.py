"""Scaling benchmark: ``only1mcp start --workers 1`` against ``--workers 2`` (docs/scaling.md).

The stdio handshake path: one handshake-era session (the loadtest's own initialize), tools/call
of the C echo backend over stdio, driven by wrk (``loadtests/mcp.lua``) at ``--conns``
connections. Both targets run with ``cluster.redis_url`` (a ``redis-server`` started here on a
loopback port): with two workers the balancing is the kernel's (SO_REUSEPORT, per connection),
so the session reaches both, and the one that did not open it adopts it from Redis once. The
targets run side by side and are measured in alternation, ``--rounds`` times, so that the
machine's other load falls on both alike; the ratio is the median of the per-round ratios.

wrk shares the machine's cores with the workers: on a 2-core machine the two workers cannot
have a core each, and the ratio says so. Capacity per core is the calls per second that one
core of gateway work answers: calls / CPU seconds of the workers (the backends excluded).

    PYTHONPATH=python python loadtests/scale_workers.py [--rounds 3] [--duration 5]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    REPO,
    Target,
    backend_command,
    ensure_wrk,
    free_port,
    log,
    machine_facts,
    running,
    write_config,
    wrk,
)

RESULTS = REPO / "loadtests" / "results" / "scale_workers.json"


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """``redis-server`` on a free loopback port, no persistence; yields its URL."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise SystemExit("redis-server is needed: apt-get install -y redis-server")
    port = free_port()
    with tempfile.TemporaryDirectory() as scratch:
        argv = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                "no", "--dir", scratch]  # fmt: skip
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            time.sleep(0.3)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            proc.wait(10)


def workers_target(name: str, config: Path, workers: int) -> Target:
    port = free_port()
    argv = [sys.executable, "-m", "only1mcp", "start", "--config", str(config)]
    argv += ["--port", str(port), "--workers", str(workers)]
    return Target(name, argv, port, env={"PYTHONPATH": str(REPO / "python")})


def gateway_cpu(target: Target) -> float:
    """CPU seconds of the target's gateway processes (the workers, or the one process)."""
    main, children = target.processes()
    procs = [p for p in [main, *children] if p is not None]
    total = 0.0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            if "only1mcp" in " ".join(proc.cmdline()):
                times = proc.cpu_times()
                total += times.user + times.system
    return total


def measure(target: Target, conns: int, duration: int) -> dict[str, Any]:
    before = gateway_cpu(target)
    run = wrk(target, conns, duration)
    cpu = gateway_cpu(target) - before
    log(f"  {run.row()}")
    return {
        "rps": run.rps,
        "p50_ms": run.p50_ms,
        "p99_ms": run.p99_ms,
        "errors": run.errors,
        "first_error": run.first_error,
        "gateway_cpu_s": cpu,
        "calls_per_core_s": run.requests / cpu if cpu else 0.0,
        "other_load_pct": run.foreign_cpu_pct,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--conns", type=int, default=32)
    args = parser.parse_args()
    ensure_wrk()
    scratch = Path(tempfile.mkdtemp(prefix="scale-"))
    rounds: list[dict[str, Any]] = []
    with redis_server() as url:
        config = write_config(scratch / "only1mcp.yaml", backend_command("c"))
        with config.open("a") as out:
            out.write(f"cluster:\n  redis_url: {url}\nadmin:\n  enabled: false\n")
        one = workers_target("workers=1", config, 1)
        two = workers_target("workers=2", config, 2)
        with running(one, two):
            for target in (one, two):  # warm-up: both workers have met the session
                wrk(target, args.conns, 2)
            for index in range(args.rounds):
                order = (one, two) if index % 2 == 0 else (two, one)
                runs = {t.name: measure(t, args.conns, args.duration) for t in order}
                ratio = runs["workers=2"]["rps"] / runs["workers=1"]["rps"]
                log(f"round {index + 1}: 2 workers / 1 worker = {ratio:.2f}x")
                rounds.append({"runs": runs, "ratio": ratio})
    ratio = statistics.median(r["ratio"] for r in rounds)
    per_core = statistics.median(r["runs"]["workers=1"]["calls_per_core_s"] for r in rounds)
    report = {
        "machine": machine_facts(),
        "conns": args.conns,
        "duration_s": args.duration,
        "rounds": rounds,
        "median_ratio": ratio,
        "calls_per_core_s": per_core,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    log(f"median ratio {ratio:.2f}x; one core of gateway work answers {per_core:.0f} calls/s")
    log(f"written to {RESULTS.relative_to(REPO)}")
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
