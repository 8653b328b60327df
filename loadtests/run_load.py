"""End-to-end load test of Only1MCP against its reference points; writes the results and report.

Targets, each a subprocess on a free port of 127.0.0.1, each driven by ``wrk`` + ``mcp.lua``
(``tools/call`` of the echo tool over one MCP session, a fresh id per request):

  null        canned HTTP responses, no parsing: the floor (wrk + loopback TCP themselves)
  ceiling     ceiling_app.py: uvicorn + orjson answering tools/call itself, no hop
  bare-relay  bare_relay.py: uvicorn + one pipe to the echo backend, nothing else
  only1mcp    ``only1mcp start`` with one stdio echo backend
  mcp-proxy   sparfenyuk's mcp-proxy (own venv .bench/mcp-proxy-venv, made on first use)

Scenarios: the concurrency matrix (targets interleaved, best of --repeat), every path (client
era x backend kind and the legacy-SSE and stdio fronts, each beside its own reference: see
path_report.py and matrix_paths.py), servers of the official SDKs from the registries, direct
and through Only1MCP (sdk_servers.py), 100 stdio backends (RSS, cached tools/list, tools/call
vs 1 backend), cold start, locust (max rate and a realistic mix), the initialize storm (RSS
before and after 15 s of re-initializing clients, storm.py), and with --profile a py-spy
profile of only1mcp under load. Results go to
loadtests/results/latest.json; report.py renders docs/PERFORMANCE.md and docs/performance.png.

    .venv/bin/python loadtests/run_load.py                 # everything, ~15 minutes
    .venv/bin/python loadtests/run_load.py --quick         # 3 s runs, c=1,16, ~4 minutes
    .venv/bin/python loadtests/run_load.py --skip matrix,many,cold,locust --quick  # paths only
    .venv/bin/python loadtests/run_load.py --render-only   # re-render from latest.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h
import matrix_paths
import metrics_overhead
import nginx
import path_report as pr
import sdk_servers
import storm

RESULTS = h.LOADTESTS / "results" / "latest.json"
ALL_TARGETS = ["null", "ceiling", "bare-relay", "only1mcp", "mcp-proxy"]
NULL_CONNS = {1, 16}  # the floor is measured where the targets are judged
MANY = 100


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--duration", type=int, default=5, help="seconds per wrk run (default 5)")
    p.add_argument("--conns", default="1,4,16,64", help="concurrency levels (default 1,4,16,64)")
    p.add_argument("--repeat", type=int, default=3, help="rounds of the matrix; best kept (3)")
    p.add_argument("--targets", default=",".join(ALL_TARGETS), help="subset of targets")
    p.add_argument(
        "--backend",
        choices=["auto", "c", "python"],
        default="auto",
        help="echo backend: auto = the faster of C (if gcc) and Python, by standalone rate",
    )
    p.add_argument(
        "--skip",
        default="",
        help="comma list of scenarios to skip: matrix,paths,sdk,many,cold,locust,storm,metrics",
    )
    p.add_argument("--paths", default="", help="subset of paths (path_report.PATHS keys)")
    p.add_argument("--path-duration", type=int, default=3, help="seconds per path run (3)")
    p.add_argument("--path-conns", default="1,16,64", help="path levels (default 1,16,64)")
    p.add_argument("--path-repeat", type=int, default=3, help="rounds of the paths (3)")
    p.add_argument(
        "--retries",
        type=int,
        default=2,
        help="measure a cell again (up to N times) when other processes used more than "
        f"{h.BUSY_PCT:.0f}%% of the machine during it (default 2)",
    )
    p.add_argument("--profile", action="store_true", help="py-spy profile only1mcp at c=16")
    p.add_argument("--quick", action="store_true", help="3 s runs, c=1,16, 1 round, no locust")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--no-report", action="store_true", help="do not render docs/")
    p.add_argument("--render-only", action="store_true", help="only render docs/ from --out")
    opts = p.parse_args(argv)
    if opts.quick:
        opts.duration, opts.conns, opts.repeat, opts.retries = 3, "1,16", 1, 0
        opts.path_duration, opts.path_repeat = 2, 1
        opts.skip = ",".join(filter(None, [opts.skip, "locust"]))
    opts.conns = [int(c) for c in opts.conns.split(",")]
    opts.path_conns = [int(c) for c in opts.path_conns.split(",")]
    opts.paths = [k for k in opts.paths.split(",") if k]
    opts.targets = [t for t in opts.targets.split(",") if t]
    opts.skip = {s for s in opts.skip.split(",") if s}
    return opts


# ------------------------------------------------------------------------ backend


def choose_backend(kind: str) -> tuple[str, dict[str, Any]]:
    rates: dict[str, Any] = {}
    kinds = ["python"] + (["c"] if h.build_c_backend() else [])
    for k in kinds:
        best: dict[str, float] = {}
        for _ in range(2):  # a noisy machine: keep the best of two
            r = h.backend_selftest(k)
            best = {key: max(best.get(key, 0.0), val) for key, val in r.items()}
        rates[k] = best
        h.log(
            f"echo backend {k}: {best['pipelined_per_s']:,.0f}/s pipelined, "
            f"{best['ping_pong_per_s']:,.0f}/s ping-pong"
        )
    if kind == "auto":
        kind = max(kinds, key=lambda k: rates[k]["pipelined_per_s"])
    return kind, {"chosen": kind, "standalone": rates}


# ------------------------------------------------------------------------- matrix


def make_targets(names: list[str], backend: list[str], scratch: Path) -> list[h.Target]:
    config = h.write_config(scratch / "one.yaml", backend)
    makers = {
        "null": h.null_target,
        "ceiling": h.ceiling_target,
        "bare-relay": lambda: h.relay_target(backend),
        "only1mcp": lambda: h.only1mcp_target("only1mcp", config),
        "mcp-proxy": lambda: h.proxy_target(backend),
    }
    return [makers[name]() for name in names]


def matrix(opts: argparse.Namespace, backend: list[str], scratch: Path) -> dict[str, Any]:
    targets = make_targets(opts.targets, backend, scratch)
    runs: list[h.Run] = []
    profile: dict[str, Any] | None = None
    with h.running(*targets):
        idle_rss = {t.name: h.rss_mb(t) for t in targets}
        for t in targets:  # warm-up, not recorded
            h.wrk(t, 16, 1)
        for rep in range(opts.repeat):
            order = targets[rep % len(targets) :] + targets[: rep % len(targets)]
            for conns in opts.conns:
                for t in order:
                    if t.name == "null" and conns not in NULL_CONNS:
                        continue
                    for run in h.wrk_quiet(t, conns, opts.duration, retries=opts.retries):
                        h.log(f"round {rep + 1}/{opts.repeat} {run.row()}")
                        runs.append(run)
        if 1 in opts.conns:
            runs += pinned_probes(targets, opts)
        if opts.profile:
            only = next((t for t in targets if t.name == "only1mcp"), None)
            if only is not None:
                profile = py_spy_profile(only, opts.duration)
    best = best_runs(runs)
    return {
        "duration_s": opts.duration,
        "repeat": opts.repeat,
        "idle_rss_mb": idle_rss,
        "runs": [asdict(r) for r in runs],
        "best": best,
        "ratios": ratios(best),
        "profile": profile,
    }


def pinned_probes(targets: list[h.Target], opts: argparse.Namespace) -> list[h.Run]:
    """The sequential probe again with the scheduler's placement taken out: each target's
    process tree on vCPU 0, wrk on another (see harness.pinned)."""
    runs: list[h.Run] = []
    for t in targets:
        with h.pinned([t]) as cpu:
            if cpu is None:
                return runs
            for run in h.wrk_quiet(t, 1, opts.duration, retries=opts.retries, cpu=cpu):
                run.target = f"{t.name} pinned"
                h.log(run.row())
                runs.append(run)
    return runs


def best_runs(runs: list[h.Run]) -> dict[str, dict[str, Any]]:
    """Per target and concurrency, the round with the highest throughput (errors summed)."""
    best: dict[str, dict[str, Any]] = {}
    for run in runs:
        key = f"{run.target}@{run.conns}"
        current = best.get(key)
        errors = run.errors + (current["errors_all_rounds"] if current else 0)
        if current is None or run.rps > current["rps"]:
            best[key] = asdict(run)
        best[key]["errors_all_rounds"] = errors
    return best


def ratios(best: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for run in best.values():
        if run["target"] != "only1mcp":
            continue
        conns = run["conns"]
        row: dict[str, float] = {}
        for ref in ("ceiling", "mcp-proxy", "bare-relay"):
            other = best.get(f"{ref}@{conns}")
            if other and other["rps"]:
                row[f"rps_vs_{ref}"] = run["rps"] / other["rps"]
                row[f"p99_vs_{ref}"] = run["p99_ms"] / other["p99_ms"] if other["p99_ms"] else 0
        out[str(conns)] = row
    return out


def py_spy_profile(target: h.Target, duration: int) -> dict[str, Any]:
    """Sample only1mcp with py-spy during a c=16 run; the top frames by own and total time."""
    py_spy = h.tools_bin() / "py-spy"
    raw = h.BENCH / "profile.txt"
    svg = h.BENCH / "profile.svg"
    seconds = max(duration, 5)
    base = [str(py_spy), "record", "-p", str(target.pid), "-d", str(seconds), "-r", "200"]
    base += ["--nonblocking", "--function"]
    h.log(f"py-spy record on only1mcp (pid {target.pid}) for {seconds}s at c=16")
    spies = [  # collapsed stacks for the tables, and a flame graph for people
        subprocess.Popen(
            [*base, "-f", "raw", "-o", str(raw)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        ),
        subprocess.Popen(
            [*base, "-o", str(svg)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        ),
    ]
    time.sleep(0.5)
    run = h.wrk(target, 16, seconds)
    errors = [spy.communicate(timeout=seconds + 60)[1] for spy in spies]
    if spies[0].returncode or not raw.exists():
        return {"error": errors[0].decode(errors="replace")[-500:]}
    return {"run_during_profile": asdict(run), **summarize_stacks(raw)}


def summarize_stacks(raw: Path, top: int = 40) -> dict[str, Any]:
    own: dict[str, int] = {}
    total: dict[str, int] = {}
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        samples += count
        frames = [f.strip() for f in stack.split(";") if f.strip()]
        if frames:
            own[frames[-1]] = own.get(frames[-1], 0) + count
        for frame in set(frames):
            total[frame] = total.get(frame, 0) + count

    def ranked(table: dict[str, int]) -> list[dict[str, Any]]:
        rows = sorted(table.items(), key=lambda kv: -kv[1])[:top]
        return [{"frame": f, "pct": round(100 * n / samples, 1)} for f, n in rows]

    return {"samples": samples, "top_own": ranked(own), "top_total": ranked(total)}


# --------------------------------------------------------------------- 100 backends


def many_backends(opts: argparse.Namespace, backend: list[str], scratch: Path) -> dict[str, Any]:
    one = h.only1mcp_target("only1mcp-1", h.write_config(scratch / "one.yaml", backend))
    many = h.only1mcp_target(
        f"only1mcp-{MANY}", h.write_config(scratch / "many.yaml", backend, servers=MANY)
    )
    many.tool = f"s{MANY // 2:03d}__echo"
    runs: list[h.Run] = []
    with h.running(one, many):
        _, children = many.processes()
        ready_s = many.ready_after
        rss_idle = h.rss_mb(many)
        tools = count_tools(many)
        for t in (one, many):
            h.wrk(t, 16, 1)
        for rep in range(opts.repeat):
            for conns in (1, 16):
                # One call at a time is compared pinned (servers on vCPU 0, wrk on another):
                # unpinned, where the scheduler puts the processes moves p50 by 3x.
                with h.pinned([one, many]) if conns == 1 else contextlib.nullcontext() as cpu:
                    for t in (one, many) if rep % 2 == 0 else (many, one):
                        made = h.wrk_quiet(t, conns, opts.duration, retries=opts.retries, cpu=cpu)
                        for run in made:
                            h.log(f"{MANY} backends {run.row()}")
                            runs.append(run)
                    made = h.wrk_quiet(
                        many, conns, opts.duration, "tools/list", opts.retries, cpu=cpu
                    )
                    for run in made:
                        h.log(f"{MANY} backends {run.row()}")
                        runs.append(run)
        rss_after = h.rss_mb(many)
    best = {f"{k}": v for k, v in best_runs_by_method(runs).items()}
    return {
        "servers": MANY,
        "backends_running": len(children),
        "tools_listed": tools,
        "ready_after_s": ready_s,
        "rss_idle_mb": rss_idle,
        "rss_after_load_mb": rss_after,
        "rss_peak_mb": max(
            [rss_idle, rss_after] + [r.rss_mb for r in runs if r.target == many.name]
        ),
        "runs": [asdict(r) for r in runs],
        "best": best,
    }


def best_runs_by_method(runs: list[h.Run]) -> dict[str, dict[str, Any]]:
    best: dict[str, dict[str, Any]] = {}
    for run in runs:
        key = f"{run.target}:{run.method}@{run.conns}"
        errors = run.errors + (best[key]["errors_all_rounds"] if key in best else 0)
        if key not in best or run.rps > best[key]["rps"]:
            best[key] = asdict(run)
        best[key]["errors_all_rounds"] = errors
    return best


def count_tools(target: h.Target) -> int:
    import httpx

    headers = {
        "accept": "application/json, text/event-stream",
        "mcp-session-id": target.session or "",
        "mcp-protocol-version": target.version,
    }
    body = {"jsonrpc": "2.0", "id": 5, "method": "tools/list"}
    resp = httpx.post(target.url, json=body, headers=headers, timeout=30, trust_env=False)
    return len(resp.json()["result"]["tools"])


# ------------------------------------------------------------------------ cold start


def cold_start(backend_kind: str, scratch: Path, reps: int = 5) -> dict[str, Any]:
    """exec → first /healthz 200 with status ok, for 1 and 100 instant-start backends."""
    out: dict[str, Any] = {"backend": backend_kind, "reps": reps}
    backend = h.backend_command(backend_kind)
    for servers in (1, MANY):
        config = h.write_config(scratch / f"cold{servers}.yaml", backend, servers=servers)
        time_to_ready(config)  # not counted: fills the bytecode cache, warms the page cache
        starts = [time_to_ready(config) for _ in range(reps)]
        times = [wall for wall, _ in starts]
        cpu = [cpu for _, cpu in starts]
        handshake = [backends_handshake(backend, servers) for _ in range(reps)]
        out[str(servers)] = {
            "ready_s": statistics.median(times),
            "ready_min_s": min(times),
            "ready_all_s": times,
            "cpu_s": statistics.median(cpu),
            "backends_alone_s": statistics.median(handshake),
            "net_s": statistics.median(times) - statistics.median(handshake),
        }
        h.log(
            f"cold start, {servers} {backend_kind} backends: {statistics.median(times):.3f} s "
            f"(CPU {statistics.median(cpu):.3f} s; backends alone "
            f"{statistics.median(handshake):.3f} s)"
        )
    base = [time_to_interpreter() for _ in range(reps)]
    out["python_startup_s"] = statistics.median(base)
    out["imports"] = import_profile()
    return out


def time_to_ready(config: Path, timeout: float = 60.0) -> tuple[float, float]:
    """(wall seconds from exec to ready, CPU seconds the only1mcp process used until then)."""
    port = h.free_port()
    target = h.only1mcp_target("cold", config, port)
    start = time.perf_counter()
    proc = subprocess.Popen(
        target.cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        cwd=h.REPO,
        env=h.target_env(),
    )
    target.proc = proc
    try:
        while time.perf_counter() - start < timeout:
            status, body = h.http_get_body(port, "/healthz", timeout=1.0)
            if status == 200 and b'"ok"' in body:
                wall = time.perf_counter() - start
                times = psutil.Process(proc.pid).cpu_times()
                return wall, times.user + times.system
            if proc.poll() is not None:
                raise RuntimeError(f"only1mcp exited with {proc.returncode}")
            time.sleep(0.002)
        raise RuntimeError("only1mcp not ready in time")
    finally:
        target.stop()


def time_to_interpreter() -> float:
    start = time.perf_counter()
    subprocess.run([h.project_python(), "-c", "pass"], check=True, env=h.target_env())
    return time.perf_counter() - start


def import_profile(top: int = 8) -> dict[str, Any]:
    """``python -X importtime`` of what ``only1mcp start`` imports; the heaviest packages."""
    code = "import only1mcp.cli, only1mcp.front.http, only1mcp.gateway, uvicorn"
    done = subprocess.run(
        [h.project_python(), "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        env=h.target_env(),
    )
    rows = []
    for line in done.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2].rstrip()
        depth = (len(name) - len(name.lstrip())) // 2
        rows.append((int(parts[1]), depth, name.strip()))
    total = sum(cum for cum, depth, _ in rows if depth == 0)
    heavy = sorted((r for r in rows if r[1] <= 1), key=lambda r: -r[0])[:top]
    return {
        "total_ms": round(total / 1e3, 1),
        "top": [{"module": n, "cumulative_ms": round(c / 1e3, 1)} for c, _, n in heavy],
    }


def backends_handshake(backend: list[str], servers: int) -> float:
    """Spawn ``servers`` backends at once from a bare asyncio driver; initialize + tools/list."""

    async def one() -> None:
        proc = await asyncio.create_subprocess_exec(
            *backend, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(
            b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":'
            b'"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}\n'
        )
        await proc.stdout.readline()
        proc.stdin.write(
            b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n'
            b'{"jsonrpc":"2.0","id":2,"method":"tools/list"}\n'
        )
        await proc.stdout.readline()
        proc.stdin.close()
        await proc.wait()

    async def all_of_them() -> float:
        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(servers)))
        return time.perf_counter() - start

    return asyncio.run(all_of_them())


# --------------------------------------------------------------------------- locust


CONFORMANCE = h.REPO / "tests" / "fixtures" / "conformance_server.py"


def locust_runs(backend: list[str], scratch: Path, seconds: int = 12) -> dict[str, Any]:
    """Locust's ceiling on this machine and realistic mixes through Only1MCP.

    The last mix puts the conformance fixture server (tests/fixtures, official SDK, with
    resources and prompts) beside the echo backend, so resources/read and prompts/get run too.
    """
    bin_dir = h.tools_bin()
    out: dict[str, Any] = {}
    ceiling = h.ceiling_target()
    only = h.only1mcp_target("only1mcp", h.write_config(scratch / "one.yaml", backend))
    targets = [ceiling, only]
    plans = [
        ("max_rate_ceiling_1proc", ceiling, "call", 32, 1),
        ("max_rate_ceiling_2proc", ceiling, "call", 32, 2),
        ("max_rate_only1mcp_1proc", only, "call", 32, 1),
        ("mix_only1mcp_1proc", only, "mix", 32, 1),
    ]
    if CONFORMANCE.exists():
        config = h.write_config(scratch / "mixed.yaml", backend)
        with config.open("a") as f:
            f.write(
                f"  cf:\n    command: {json.dumps(h.project_python())}\n"
                f"    args: {json.dumps([str(CONFORMANCE), '--transport', 'stdio'])}\n"
                "    timeout: 10\n"
            )
        mixed = h.only1mcp_target("only1mcp+conformance", config)
        targets.append(mixed)
        plans.append(("mix_with_resources_prompts_1proc", mixed, "mix", 16, 1))
    with h.running(*targets):
        for label, target, mix, users, procs in plans:
            out[label] = run_locust(bin_dir, target, mix, users, procs, seconds, scratch / label)
            out[label]["target"] = target.name
            h.log(
                f"locust {label}: {out[label].get('rps', 0):,.0f} rps, "
                f"p99 {out[label].get('p99_ms')} ms, failures {out[label].get('failures')}"
            )
    return out


def run_locust(
    bin_dir: Path, target: h.Target, mix: str, users: int, procs: int, seconds: int, prefix: Path
) -> dict[str, Any]:
    cmd = [
        str(bin_dir / "locust"),
        "-f",
        str(h.LOADTESTS / "locustfile.py"),
        "--headless",
        "-u",
        str(users),
        "-r",
        str(users),
        "-t",
        f"{seconds}s",
        "--host",
        f"http://{h.HOST}:{target.port}",
        "--csv",
        str(prefix),
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--processes",
        str(procs),
    ]
    env = {**os.environ, "LOCUST_MIX": mix, "LOCUST_TOOL": target.tool}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=seconds + 120)
    stats = Path(f"{prefix}_stats.csv")
    if not stats.exists():
        return {"error": (done.stderr or done.stdout)[-800:]}
    rows = {row["Name"]: row for row in csv.DictReader(stats.open())}
    agg = rows.get("Aggregated", {})
    per_method = {
        name: {
            "requests": int(r["Request Count"]),
            "rps": float(r["Requests/s"]),
            "p50_ms": float(r["50%"]),
            "p99_ms": float(r["99%"]),
            "failures": int(r["Failure Count"]),
        }
        for name, r in rows.items()
        if name != "Aggregated"
    }
    return {
        "users": users,
        "processes": procs,
        "mix": mix,
        "seconds": seconds,
        "requests": int(agg.get("Request Count", 0)),
        "rps": float(agg.get("Requests/s", 0)),
        "p50_ms": float(agg.get("50%", 0) or 0),
        "p99_ms": float(agg.get("99%", 0) or 0),
        "failures": int(agg.get("Failure Count", 0)),
        "per_method": per_method,
    }


# ----------------------------------------------------------------------------- main


def cpu_availability(seconds: float = 2.0) -> dict[str, float]:
    """Share of wall time a busy loop really runs, one vCPU busy and all busy (host noise)."""
    code = (
        "import time,sys\n"
        "s=p=time.perf_counter();lost=0.0\n"
        f"while p-s<{seconds}:\n"
        "    t=time.perf_counter()\n"
        "    if t-p>2e-4: lost+=t-p\n"
        "    p=t\n"
        "print(1-lost/(p-s))\n"
    )

    def probe(n: int) -> float:
        procs = [
            subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
            for _ in range(n)
        ]
        values = [float(p.communicate()[0]) for p in procs]
        return round(statistics.mean(values), 3)

    return {"one_busy": probe(1), "all_busy": probe(os.cpu_count() or 1)}


def scenarios(
    opts: argparse.Namespace, backend: list[str], scratch: Path, results: dict[str, Any]
) -> None:
    """Run every scenario not skipped, each into its section of ``results``."""
    if "matrix" not in opts.skip:
        results["matrix"] = matrix(opts, backend, scratch)
    if "paths" not in opts.skip:
        h.log("paths: " + ", ".join(p.key for p in pr.select(opts.paths)))
        results["paths"] = matrix_paths.run(
            pr.select(opts.paths),
            backend,
            scratch,
            opts.path_conns,
            opts.path_duration,
            opts.path_repeat,
            opts.retries,
        )
        for line in matrix_paths.summary(results["paths"], pr.select(opts.paths)):
            h.log(line)
    if "sdk" not in opts.skip:  # servers of the official SDKs, direct and through Only1MCP
        results["sdk"] = sdk_servers.measure(scratch, [1, 16], opts.path_duration, opts.path_repeat)
        for line in sdk_servers.summary(results["sdk"]):
            h.log(line)
    if "many" not in opts.skip:
        results["many"] = many_backends(opts, backend, scratch)
    if "cold" not in opts.skip:
        results["cold"] = cold_start("c" if h.build_c_backend() else "python", scratch)
    if "locust" not in opts.skip:
        results["locust"] = locust_runs(backend, scratch)
    if "storm" not in opts.skip:
        results["storm"] = storm.storm(backend, scratch)
    if "metrics" not in opts.skip:  # the cost of the metrics: on versus off, handshake/stdio
        results["metrics"] = metrics_overhead.measure(backend, opts.path_repeat + 1, 3, 16)


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    if opts.render_only:
        return render(opts.out)
    h.ensure_wrk()
    if "paths" not in opts.skip:
        nginx.ensure_nginx()
    scratch = h.scratch_dir()
    results: dict[str, Any] = {"machine": h.machine_facts(), "started": time.time()}
    results["machine"]["cpu_availability"] = cpu_availability()
    h.log(f"machine: {results['machine']}")
    kind, results["backend"] = choose_backend(opts.backend)
    backend = h.backend_command(kind)
    h.log(f"echo backend used: {kind} ({' '.join(backend)})")
    scenarios(opts, backend, scratch, results)
    results["finished"] = time.time()
    results["machine"]["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    previous: dict[str, Any] = {}
    if opts.out.exists():
        with contextlib.suppress(ValueError):
            previous = json.loads(opts.out.read_text())
    sections = ("matrix", "paths", "sdk", "many", "cold", "locust", "storm", "metrics")
    for section in sections:  # a partial run keeps the rest
        if section not in results and section in previous:
            results[section] = previous[section]
            results.setdefault("carried_over", []).append(section)
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    opts.out.write_text(json.dumps(results, indent=1) + "\n")
    h.log(f"wrote {opts.out}")
    return 0 if opts.no_report else render(opts.out)


def render(results: Path) -> int:
    """docs/PERFORMANCE.md and docs/performance.png, by report.py in a venv with matplotlib."""
    python = h.project_python()
    probe = subprocess.run([python, "-c", "import matplotlib"], capture_output=True)
    if probe.returncode:
        python = str(h.tools_bin() / "python")
    return subprocess.run([python, str(h.LOADTESTS / "report.py"), str(results)]).returncode


if __name__ == "__main__":
    sys.exit(main())
