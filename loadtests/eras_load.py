"""The 2026-07-28 path against the handshake path, on one Only1MCP in front of one stdio server.

One ``only1mcp start`` with the echo backend (a handshake-era stdio server: it answers
``server/discover`` with -32601) is driven by wrk, at each concurrency in turn, first with
``loadtests/mcp.lua`` over one handshake session, then with ``loadtests/mcp2026.lua`` (no
session: every request carries the 2026 headers and ``_meta`` envelope, so it takes the stateless
front and the bridge). Both paths run in the same process, interleaved, so their numbers compare.
The backend processes (the only1mcp process's descendants) are counted before and after every
run: traffic must start none.

    PYTHONPATH=python .venv/bin/python loadtests/eras_load.py [--duration 5] [--conns 1 16 64]
        [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

import harness as h  # beside this script: run it as a script, as run_load.py is

MCP2026_LUA = h.LOADTESTS / "mcp2026.lua"
MODERN = "2026-07-28"


def backend_pids(target: h.Target) -> list[int]:
    return sorted(child.pid for child in target.processes()[1])


def run_era(target: h.Target, era: str, conns: int, duration: int, cpu: int | None) -> h.Run:
    """One wrk run of tools/call on ``era`` ("handshake" or "2026")."""
    session, version, lua = target.session, target.version, h.LUA
    if era == "2026":
        target.session, target.version, h.LUA = None, MODERN, MCP2026_LUA
    try:
        run = h.wrk(target, conns, duration, cpu=cpu)
    finally:
        target.session, target.version, h.LUA = session, version, lua
    run.target = era
    return run


def best_of(runs: list[dict[str, object]]) -> dict[tuple[str, int], dict[str, object]]:
    """The fastest run of each (era, connections): the one least disturbed by other load."""
    best: dict[tuple[str, int], dict[str, object]] = {}
    for run in runs:
        key = (str(run["target"]), int(run["conns"]))  # type: ignore[call-overload]
        if key not in best or float(run["rps"]) > float(best[key]["rps"]):  # type: ignore[arg-type]
            best[key] = run
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--conns", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--repeat", type=int, default=1, help="interleaved rounds; best kept")
    parser.add_argument("--backend", choices=["c", "python"], default="c")
    parser.add_argument("--json", type=Path, help="write the runs here as well")
    opts = parser.parse_args()
    h.ensure_wrk()
    scratch = h.scratch_dir()
    config = h.write_config(scratch / "eras.yaml", h.backend_command(opts.backend))
    target = h.only1mcp_target("only1mcp", config)
    runs: list[dict[str, object]] = []
    with h.running(target), h.pinned([target]) as cpu:
        before = backend_pids(target)
        h.log(f"backend processes before: {len(before)} {before}")
        for _ in range(opts.repeat):
            for conns in opts.conns:
                for era in ("handshake", "2026"):
                    run = run_era(target, era, conns, opts.duration, cpu)
                    now = backend_pids(target)
                    h.log(f"{run.row()}  backends {len(now)}")
                    runs.append({**asdict(run), "backends_after": len(now)})
        after = backend_pids(target)
    h.log(f"backend processes after: {len(after)} {after} (same: {after == before})")
    best = best_of(runs)
    print(
        f"{'era':<10} {'conns':>5} {'calls/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'cpu/call us':>11}"
    )
    for (era, conns), run in sorted(best.items(), key=lambda item: (item[0][1], item[0][0])):
        print(
            f"{era:<10} {conns:>5} {run['rps']:>9.0f} {run['p50_ms']:>7.3f} "
            f"{run['p99_ms']:>7.3f} {run['server_cpu_us']:>11.1f}"
        )
    for conns in opts.conns:
        ratio = float(best[("2026", conns)]["rps"]) / float(best[("handshake", conns)]["rps"])  # type: ignore[arg-type]
        print(f"c={conns}: 2026 / handshake = {ratio:.1%}")
    print(f"backend processes: before {len(before)}, after {len(after)}, same: {before == after}")
    if opts.json:
        opts.json.write_text(json.dumps({"runs": runs, "before": before, "after": after}))


if __name__ == "__main__":
    main()
