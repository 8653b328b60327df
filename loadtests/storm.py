"""The initialize storm (issue 13): a client that re-initializes on every request and never ends
a session, for ``seconds`` at ``conns`` connections, driven by wrk + ``initialize_storm.lua``.

Before the session store was bounded, 181k such POSTs in 15 s grew Only1MCP's RSS from 52 MB
to 671 MB, never freed; the same load must leave it within 20% of its start. Run once with the
default bounds and once with a small ``front.max_sessions``; each reports RSS at the start, the
peak during the storm, the end, the session count after and the refusals (503/429).

    .venv/bin/python loadtests/storm.py            # standalone, 15 s per run
    .venv/bin/python loadtests/run_load.py --skip matrix,paths,many,cold,locust   # in the suite
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h

LUA = h.LOADTESTS / "initialize_storm.lua"
SECONDS = 15
CONNS = 16
#: (run name, extra ``front:`` lines): the defaults, and a small bound.
BOUNDS = [("default bounds", ""), ("max_sessions 500", "  max_sessions: 500\n")]


def storm_once(backend: list[str], scratch: Path, name: str, front: str) -> dict[str, Any]:
    config = h.write_config(scratch / f"storm-{len(front)}.yaml", backend)
    if front:
        config.write_text(config.read_text() + "front:\n" + front)
    target = h.only1mcp_target(f"storm {name}", config)
    target.start()
    try:
        time.sleep(1.0)  # settled after start
        start = h.rss_mb(target)
        main, _ = target.processes()
        sampler = h.RssSampler(main)
        sampler.start()
        cmd = ["wrk", "-t1", f"-c{CONNS}", f"-d{SECONDS}s", "-s", str(LUA), target.url]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=SECONDS + 60)
        sampler.stopped.set()
        sampler.join()
        end = h.rss_mb(target)
        line = next((ln for ln in done.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
        if line is None:
            raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}\n{done.stderr}")
        data = json.loads(line[8:])
        health = httpx.get(f"http://{h.HOST}:{target.port}/healthz", timeout=5).json()
    finally:
        target.stop()
    result = {
        "bounds": name,
        "seconds": SECONDS,
        "conns": CONNS,
        "initialize": data["requests"],
        "rps": round(data["requests"] / (data["duration_us"] / 1e6)),
        "errors": data["errors"] + data["socket_errors"],
        "refused": data["refused"],
        "first_error": data["first_error"],
        "rss_start_mb": round(start, 1),
        "rss_peak_mb": round(sampler.peak / 2**20, 1),
        "rss_end_mb": round(end, 1),
        "growth_pct": round(100 * (end - start) / start, 1),
        "sessions_after": health.get("sessions"),
    }
    h.log(
        f"storm ({name}): {result['initialize']} initialize in {SECONDS}s "
        f"({result['rps']}/s), RSS {start:.1f} → {end:.1f} MB "
        f"({result['growth_pct']:+.1f}%), peak {result['rss_peak_mb']} MB, "
        f"{result['sessions_after']} sessions after, {result['refused']} refused, "
        f"{result['errors']} errors"
    )
    return result


def storm(backend: list[str], scratch: Path) -> list[dict[str, Any]]:
    return [storm_once(backend, scratch, name, front) for name, front in BOUNDS]


def main() -> int:
    h.ensure_wrk()
    results = storm(h.backend_command("python"), h.scratch_dir())
    print(json.dumps(results, indent=1))
    return 0 if all(r["growth_pct"] <= 20 and not r["errors"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
