"""What the metrics cost: ``only1mcp start`` with ``metrics.enabled`` on versus off, on the
handshake/stdio path (a handshake client's ``tools/call`` of the stdio echo backend, wrk +
mcp.lua over one session), each run with the server and its backend on one vCPU and wrk on
the other.

Both aggregators run side by side; rounds drive one, then the other (the order alternating),
so the machine's other load falls on both alike. Throughput on a shared machine moves with
everyone else's load; the server's own CPU time per call moves much less, and is what the
metrics add to. Reported: per round and the median of each, and the ratios. Results go to
loadtests/results/metrics_overhead.json.

    PYTHONPATH=python .venv/bin/python loadtests/metrics_overhead.py --rounds 5 --duration 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h

RESULTS = h.LOADTESTS / "results" / "metrics_overhead.json"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rounds", type=int, default=5, help="on/off pairs (default 5)")
    p.add_argument("--duration", type=int, default=5, help="seconds per wrk run (default 5)")
    p.add_argument("--conns", type=int, default=16, help="connections (default 16)")
    p.add_argument("--backend", choices=["c", "python"], default="c", help="echo backend")
    return p.parse_args()


def start(name: str, backend: list[str], enabled: bool) -> h.Target:
    config = h.write_config(h.BENCH / f"metrics-{name}.yaml", backend)
    # Each its own admin listener (on by default; a fixed port would go to the first only).
    extra = f"metrics:\n  enabled: {str(enabled).lower()}\nadmin:\n  port: 0\n"
    config.write_text(config.read_text() + extra)
    target = h.only1mcp_target(name, config).start()
    target.open_session()
    return target


def measure(backend: list[str], rounds: int, duration: int, conns: int) -> dict[str, Any]:
    """Interleaved wrk runs of both aggregators: the summary (medians, ratios) and each run."""
    targets = {
        "on": start("metrics-on", backend, True),
        "off": start("metrics-off", backend, False),
    }
    runs: dict[str, list[h.Run]] = {"on": [], "off": []}
    try:
        for round_ in range(rounds):
            order = ["on", "off"] if round_ % 2 == 0 else ["off", "on"]
            for state in order:
                # Server and backend on one vCPU, wrk on the other: where the scheduler puts
                # them otherwise moves a run's throughput by a third (see harness.pinned),
                # more than the difference measured here.
                with h.pinned([targets[state]]) as cpu:
                    run = h.wrk(targets[state], conns, duration, cpu=cpu)
                runs[state].append(run)
                h.log(f"round {round_ + 1} metrics {state:<3} {run.row()}")
    finally:
        for target in targets.values():
            target.stop()
    summary: dict[str, Any] = {
        state: {
            "rps_median": statistics.median(r.rps for r in done),
            "server_cpu_us_median": statistics.median(r.server_cpu_us for r in done),
            "errors": sum(r.errors for r in done),
        }
        for state, done in runs.items()
    }
    on, off = summary["on"], summary["off"]
    summary["rps_ratio_on_off"] = on["rps_median"] / off["rps_median"]
    summary["cpu_per_call_ratio_on_off"] = on["server_cpu_us_median"] / off["server_cpu_us_median"]
    h.log(
        f"metrics on/off: throughput x{summary['rps_ratio_on_off']:.3f}, "
        f"server CPU per call x{summary['cpu_per_call_ratio_on_off']:.3f} "
        f"({on['server_cpu_us_median']:.1f} vs {off['server_cpu_us_median']:.1f} us)"
    )
    return {
        "summary": summary,
        "runs": {state: [asdict(r) for r in done] for state, done in runs.items()},
    }


def main() -> None:
    args = parse_args()
    measured = measure(h.backend_command(args.backend), args.rounds, args.duration, args.conns)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    out = {"machine": h.machine_facts(), "args": vars(args), **measured}
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
