"""Only1MCP in front of a Streamable HTTP backend, next to nginx and the backend itself.

Side by side in one run, wrk -t1 with tools/call of an echo tool at each concurrency:

* ``direct-json`` / ``direct-sse`` — benches/http_echo_server.py, answering JSON or SSE;
* ``nginx-json`` / ``nginx-sse`` — nginx ``proxy_pass`` (keep-alive upstream) to it;
* ``o1-json`` / ``o1-sse`` — ``only1mcp start`` with that server as its one HTTP backend,
  driven by a handshake-era session client (loadtests/mcp.lua) and, as ``…-2026``, by
  stateless 2026-07-28 requests (benches/mcp2026.lua).

Each (target, concurrency) is measured ``--rounds`` times, the order rotated, the best kept.

    PYTHONPATH=$PWD/python python benches/http_backend_load.py [--duration 3] [--conns 1,16,64]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "loadtests"))
import harness  # noqa: E402
import httpx  # noqa: E402

SERVER = REPO / "benches" / "http_echo_server.py"
LUA_2026 = REPO / "benches" / "mcp2026.lua"
ONLY1MCP = Path(sys.executable).parent / "only1mcp"

NGINX_CONF = """
daemon off; worker_processes 1; pid {tmp}/nginx.pid; error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {tmp}; proxy_temp_path {tmp}; fastcgi_temp_path {tmp};
  uwsgi_temp_path {tmp}; scgi_temp_path {tmp};
  upstream backend {{ server 127.0.0.1:{backend}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection "";
    }}
  }}
}}
"""


class SseTarget(harness.Target):
    """A target whose tools/call answers come as an SSE stream (checked by its data line)."""

    def check_call(self, client: httpx.Client, headers: dict[str, str]) -> None:
        call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call"}
        call["params"] = {"name": self.tool, "arguments": {"text": "hello", "n": 42}}
        resp = client.post(self.url, json=call, headers=headers)
        resp.raise_for_status()
        data = [ln[5:] for ln in resp.text.splitlines() if ln.startswith("data:")]
        if "hello" not in data[-1]:
            raise RuntimeError(f"{self.name}: tools/call answered {resp.text!r}")


def echo_server(name: str, sse: bool) -> harness.Target:
    port = harness.free_port()
    cmd = [sys.executable, str(SERVER), "--port", str(port), *(["--sse"] if sse else [])]
    return (SseTarget if sse else harness.Target)(name, cmd, port, tool="echo")


def nginx(name: str, backend: harness.Target, tmp: Path) -> harness.Target:
    port = harness.free_port()
    conf = tmp / f"{name}.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, backend=backend.port, port=port))
    nginx_bin = shutil.which("nginx") or "/usr/sbin/nginx"
    cmd = [nginx_bin, "-c", str(conf), "-e", str(tmp / "e.log")]
    return type(backend)(name, cmd, port, tool="echo")


def only1mcp(name: str, backend: harness.Target, tmp: Path) -> harness.Target:
    config = tmp / f"{name}.yaml"
    config.write_text(
        f"log_level: warning\nservers:\n  bench:\n    url: {backend.url}\n    timeout: 10\n"
    )
    port = harness.free_port()
    cmd = [str(ONLY1MCP), "start", "--config", str(config), "--port", str(port)]
    env = {"PYTHONPATH": os.environ.get("PYTHONPATH", str(REPO / "python"))}
    return harness.Target(name, cmd, port, env=env)


def measure(target: harness.Target, conns: int, duration: int, modern: bool) -> harness.Run:
    lua, session, version = harness.LUA, target.session, target.version
    if modern:
        harness.LUA, target.session, target.version = LUA_2026, None, "2026-07-28"
    try:
        run = harness.wrk(target, conns, duration, threads=1)
    finally:
        harness.LUA, target.session, target.version = lua, session, version
    if modern:
        run.target += "-2026"
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=3)
    parser.add_argument("--conns", default="1,16,64")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--only", default="", help="comma-separated target names")
    parser.add_argument("--json", type=Path, help="write every run here")
    opts = parser.parse_args()
    harness.ensure_wrk()
    tmp = Path(tempfile.mkdtemp(prefix="o1-httpload-"))
    dj, ds = echo_server("direct-json", False), echo_server("direct-sse", True)
    targets = [
        dj,
        ds,
        nginx("nginx-json", dj, tmp),
        nginx("nginx-sse", ds, tmp),
        only1mcp("o1-json", dj, tmp),
        only1mcp("o1-sse", ds, tmp),
    ]
    plan = [(t, False) for t in targets] + [(t, True) for t in targets if t.name.startswith("o1")]
    if opts.only:
        keep = opts.only.split(",")
        plan = [(t, m) for t, m in plan if t.name + ("-2026" if m else "") in keep]
    best: dict[tuple[str, int], harness.Run] = {}
    runs: list[harness.Run] = []
    with harness.running(*targets):
        for conns in [int(c) for c in opts.conns.split(",")]:
            for rnd in range(opts.rounds):
                shift = rnd % len(plan)
                for target, modern in plan[shift:] + plan[:shift]:
                    run = measure(target, conns, opts.duration, modern)
                    runs.append(run)
                    key = (run.target, conns)
                    if key not in best or run.rps > best[key].rps:
                        best[key] = run
        for run in sorted(best.values(), key=lambda r: (r.conns, r.target)):
            print(run.row(), flush=True)
    shutil.rmtree(tmp, ignore_errors=True)
    if opts.json:
        opts.json.write_text(json.dumps([r.__dict__ for r in runs], indent=1))


if __name__ == "__main__":
    main()
