"""The performance regression gate (``make bench-gate``): only1mcp against the ceiling app.

Starts the ceiling app (loadtests/ceiling_app.py) and Only1MCP with one echo backend side by
side on loopback, warms both up, then runs ROUNDS rounds of DURATION seconds of tools/call at
16 connections with wrk, alternating which target goes first. Per round:

    rps_ratio = only1mcp calls/s / ceiling calls/s      (higher is better)
    p99_ratio = only1mcp p99 / ceiling p99              (lower is better)

and the median over the rounds is compared with benches/baseline.json. Dividing by a ceiling
measured seconds apart on the same machine cancels most of the machine's speed and noise.
Exit 1 on any error response, when rps_ratio falls more than TOLERANCE below the baseline, or
when p99_ratio rises more than TOLERANCE above it and only1mcp's p99 is also more than
P99_SLACK_MS (1 ms) above what that allows: on a shared VM host preemption puts 1-5 ms into any
p99, which also pulls the ratio towards 1 when it dominates both targets.
Rounds during which other processes used more than 20% of the machine are measured again (up
to --redo 3 of them). A failed check is measured once more (--attempts 2) if that fits in
--budget (115 s) and passes if the second attempt does: a real regression fails both, a minute
of a noisy neighbour rarely does.

    .venv/bin/python loadtests/gate.py                    # check (about 50 s)
    .venv/bin/python loadtests/gate.py --write-baseline   # record benches/baseline.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h

BASELINE = h.REPO / "benches" / "baseline.json"
REPORT = h.BENCH / "gate.json"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--baseline", type=Path, default=BASELINE)
    p.add_argument("--write-baseline", action="store_true", help="record the measurement")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument(
        "--redo",
        type=int,
        default=3,
        help=f"rounds that may be measured again when other processes used > {h.BUSY_PCT:.0f}%% "
        "of the machine during them (default 3)",
    )
    p.add_argument(
        "--budget", type=float, default=115.0, help="seconds: no second attempt past this"
    )
    p.add_argument("--duration", type=int, default=3, help="seconds per wrk run")
    p.add_argument("--conns", type=int, default=16)
    p.add_argument("--tolerance", type=float, default=0.15, help="allowed regression (0.15)")
    p.add_argument("--p99-slack-ms", type=float, default=1.0)
    p.add_argument(
        "--attempts", type=int, default=2, help="measure again after a failure, up to N times"
    )
    p.add_argument(
        "--only1mcp-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for only1mcp, to check the gate itself "
        "(e.g. PYTHONDEVMODE=1 makes the product measurably slower)",
    )
    return p.parse_args(argv)


def measure(opts: argparse.Namespace) -> dict[str, Any]:
    h.ensure_wrk()
    kind = "c" if h.build_c_backend() else "python"
    backend = h.backend_command(kind)
    scratch = h.scratch_dir()
    ceiling = h.ceiling_target()
    only = h.only1mcp_target("only1mcp", h.write_config(scratch / "one.yaml", backend))
    only.env = dict(item.split("=", 1) for item in opts.only1mcp_env)
    rounds: list[dict[str, Any]] = []
    with h.running(ceiling, only):
        for target in (ceiling, only):
            h.wrk(target, opts.conns, 2)  # warm-up
        redo = opts.redo
        turn = 0
        while len(rounds) < opts.rounds:
            order = (ceiling, only) if turn % 2 == 0 else (only, ceiling)
            turn += 1
            runs = {t.name: h.wrk(t, opts.conns, opts.duration) for t in order}
            o, c = runs["only1mcp"], runs["ceiling"]
            other = max(o.foreign_cpu_pct, c.foreign_cpu_pct)
            h.log(
                f"round {len(rounds) + 1}/{opts.rounds}: only1mcp {o.rps:,.0f}/s p99 "
                f"{o.p99_ms:.2f} ms | ceiling {c.rps:,.0f}/s p99 {c.p99_ms:.2f} ms | ratio "
                f"{o.rps / c.rps:.3f} p99 ratio {o.p99_ms / c.p99_ms:.2f} | other load {other:.0f}%"
            )
            if other > h.BUSY_PCT and redo > 0:
                redo -= 1
                h.log("  disturbed by other processes: this round is measured again")
                continue
            rounds.append(
                {
                    "only1mcp": asdict(o),
                    "ceiling": asdict(c),
                    "rps_ratio": o.rps / c.rps,
                    "p99_ratio": o.p99_ms / c.p99_ms,
                    "other_load_pct": other,
                }
            )

    def med(target: str, key: str) -> float:
        return statistics.median(r[target][key] for r in rounds)

    return {
        "conns": opts.conns,
        "duration_s": opts.duration,
        "rounds": opts.rounds,
        "backend": kind,
        "rps_ratio": statistics.median(r["rps_ratio"] for r in rounds),
        "p99_ratio": statistics.median(r["p99_ratio"] for r in rounds),
        "only1mcp": {k: med("only1mcp", k) for k in ("rps", "p50_ms", "p99_ms", "server_cpu_us")},
        "ceiling": {k: med("ceiling", k) for k in ("rps", "p50_ms", "p99_ms", "server_cpu_us")},
        "errors": sum(r["only1mcp"]["errors"] + r["ceiling"]["errors"] for r in rounds),
        "first_error": next(
            (
                r[t]["first_error"]
                for r in rounds
                for t in ("only1mcp", "ceiling")
                if r[t]["first_error"]
            ),
            "",
        ),
        "all_rounds": rounds,
        "recorded": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "git_rev": h.machine_facts()["git_rev"],
    }


def verdict(now: dict[str, Any], base: dict[str, Any], opts: argparse.Namespace) -> list[str]:
    """The reasons to fail (empty: pass)."""
    problems = []
    if now["errors"]:
        problems.append(f"{now['errors']} error responses (first: {now['first_error'][:200]})")
    floor = base["rps_ratio"] * (1 - opts.tolerance)
    if now["rps_ratio"] < floor:
        problems.append(
            f"throughput ratio {now['rps_ratio']:.3f} < {floor:.3f} "
            f"(baseline {base['rps_ratio']:.3f} - {opts.tolerance:.0%})"
        )
    cap = base["p99_ratio"] * (1 + opts.tolerance)
    allowed_ms = now["ceiling"]["p99_ms"] * cap + opts.p99_slack_ms
    if now["p99_ratio"] > cap and now["only1mcp"]["p99_ms"] > allowed_ms:
        problems.append(
            f"p99 ratio {now['p99_ratio']:.2f} > {cap:.2f} (baseline {base['p99_ratio']:.2f} "
            f"+ {opts.tolerance:.0%}), only1mcp p99 {now['only1mcp']['p99_ms']:.2f} ms > "
            f"{allowed_ms:.2f} ms allowed"
        )
    return problems


def report(now: dict[str, Any], seconds: float) -> None:
    o, c = now["only1mcp"], now["ceiling"]
    print(
        f"\nbench-gate ({now['rounds']} rounds x {now['duration_s']} s at {now['conns']} "
        f"connections, {seconds:.0f} s):\n"
        f"  only1mcp {o['rps']:>9,.0f} calls/s  p50 {o['p50_ms']:.3f} ms  p99 {o['p99_ms']:.2f} ms"
        f"  {o['server_cpu_us']:.1f} µs CPU/call\n"
        f"  ceiling  {c['rps']:>9,.0f} calls/s  p50 {c['p50_ms']:.3f} ms  p99 {c['p99_ms']:.2f} ms"
        f"  {c['server_cpu_us']:.1f} µs CPU/call\n"
        f"  ratio {now['rps_ratio']:.3f}  p99 ratio {now['p99_ratio']:.2f}  "
        f"CPU/call ratio {o['server_cpu_us'] / c['server_cpu_us']:.2f}  errors {now['errors']}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    started = time.monotonic()
    if opts.write_baseline:
        now = measure(opts)
        report(now, time.monotonic() - started)
        keep = {k: v for k, v in now.items() if k != "all_rounds"}
        keep["machine"] = h.machine_facts()
        opts.baseline.write_text(json.dumps(keep, indent=1) + "\n")
        print(f"wrote {opts.baseline}")
        return 1 if now["errors"] else 0
    if not opts.baseline.exists():
        print(f"no baseline at {opts.baseline}: run with --write-baseline first")
        return 2
    base = json.loads(opts.baseline.read_text())
    attempts = []
    for attempt in range(1, opts.attempts + 1):
        now = measure(opts)
        report(now, time.monotonic() - started)
        print(
            f"  baseline ratio {base['rps_ratio']:.3f}  p99 ratio {base['p99_ratio']:.2f} "
            f"({base.get('recorded', '?')}, {base.get('git_rev', '?')})"
        )
        problems = verdict(now, base, opts)
        attempts.append({**now, "problems": problems})
        h.BENCH.mkdir(exist_ok=True)
        REPORT.write_text(json.dumps(attempts, indent=1) + "\n")
        for problem in problems:
            print(f"  REGRESSION? {problem}")
        if not problems or now["errors"]:
            break
        elapsed = time.monotonic() - started
        if attempt < opts.attempts and elapsed / attempt * (attempt + 1) > opts.budget:
            print(f"  no time for another attempt within {opts.budget:.0f} s")
            break
        if attempt < opts.attempts:
            print("  measuring again: a shared machine can be slow for a minute")
    print("bench-gate: " + ("FAILED" if problems else "passed") + f" (details in {REPORT})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
