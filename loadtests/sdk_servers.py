"""Servers Only1MCP did not write, from the registries, measured for speed through it.

The path matrix (matrix_paths.py) drives echo backends made for the purpose; a user's servers are
built on the official SDKs. Here each of these is measured directly and through Only1MCP, by both
client eras, at 1 and 16 connections, best of the rounds:

- ``ts-everything/stdio``: ``@modelcontextprotocol/server-everything`` (TypeScript SDK, npm),
  spoken to over stdio, its ``echo`` tool;
- ``py-time/stdio``: ``mcp-server-time`` (Python SDK, PyPI), over stdio, ``get_current_time``;
- ``ts-everything/http``: server-everything's Streamable HTTP server (the TypeScript SDK's
  transport, answers as SSE streams), ``echo``.

The reference is the server alone: a stdio server is driven over its own pipes by
front_drivers' pipelined client (``conns`` calls in flight), the HTTP one by wrk in one session.
The ratio says how much of a server's own throughput a client keeps through Only1MCP. Only1MCP
speaks to each server in the eras it offers: server-everything speaks the handshake era only, so
a 2026 client's calls reach it through the bridge; mcp-server-time on the Python SDK 2.x speaks
2026-07-28 too, so they reach it as 2026 requests (bridge/direct.py), and its own cost per
request is then that of its SDK's 2026 side. Backend processes are counted before and after the
2026 runs: none may be spawned.

    .venv/bin/python loadtests/run_load.py --skip matrix,paths,many,cold,locust,storm,metrics
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import front_drivers
import harness as h

MCP_JS = h.REPO / "tools" / "mcp-js" / "node_modules"
EVERYTHING = MCP_JS / "@modelcontextprotocol" / "server-everything" / "dist" / "index.js"
NODE22 = h.REPO / "tools" / "conformance" / "node_modules" / "node" / "bin" / "node"
ERAS = {"handshake": "handshake", "2026": h.STATELESS}


@dataclass(frozen=True)
class SdkServer:
    key: str
    label: str
    command: list[str]  # stdio: the server; http: what serves it on $PORT
    tool: str
    arguments: dict[str, Any]
    http: bool = False


def node() -> str:
    return str(NODE22) if NODE22.exists() else "node"


def servers() -> list[SdkServer]:
    """The servers this machine has (the npm ones come with ``make js-deps``)."""
    found: list[SdkServer] = []
    if EVERYTHING.exists():
        everything = [node(), str(EVERYTHING)]
        echo = {"message": "hello"}
        label = "@modelcontextprotocol/server-everything (TypeScript SDK)"
        found.append(
            SdkServer(
                "ts-everything/stdio", f"{label}, stdio", [*everything, "stdio"], "echo", echo
            )
        )
        found.append(
            SdkServer(
                "ts-everything/http",
                f"{label}, Streamable HTTP (SSE answers)",
                [*everything, "streamableHttp"],
                "echo",
                echo,
                http=True,
            )
        )
    time_server = h.PROJECT_BIN / "mcp-server-time"
    if time_server.exists():
        found.append(
            SdkServer(
                "py-time/stdio",
                "mcp-server-time (Python SDK), stdio",
                [str(time_server), "--local-timezone", "UTC"],
                "get_current_time",
                {"timezone": "UTC"},
            )
        )
    return found


def measure(scratch: Path, levels: list[int], duration: int, rounds: int) -> dict[str, Any]:
    """Every server of :func:`servers`: its rows (see the module doc)."""
    return {s.key: _server(s, scratch, levels, duration, rounds) for s in servers()}


def _server(
    server: SdkServer, scratch: Path, levels: list[int], duration: int, rounds: int
) -> dict[str, Any]:
    h.log(f"sdk: {server.key}")
    backend = _http_backend(server) if server.http else None
    try:
        config = _config(server, scratch, backend)
        only = h.only1mcp_target(f"only1mcp {server.key}", config)
        only.upstream = backend
        only.start(timeout=120)
        try:
            return _rows(server, only, backend, levels, duration, rounds)
        finally:
            only.stop()
    finally:
        if backend is not None:
            backend.stop()


def _rows(
    server: SdkServer,
    only: h.Target,
    backend: h.Target | None,
    levels: list[int],
    duration: int,
    rounds: int,
) -> dict[str, Any]:
    views = {}
    for era, wire in ERAS.items():
        view = only.view(f"{era}/{server.key}", wire)
        view.tool, view.arguments = f"sdk__{server.tool}", server.arguments
        view.open_session()
        views[era] = view
    if backend is not None:
        backend.open_session()
    rows: dict[str, Any] = {"label": server.label, "direct": {}, "handshake": {}, "2026": {}}
    before = len(only.processes()[1])
    for _ in range(rounds):
        for conns in levels:
            _keep_best(rows["direct"], conns, _direct(server, backend, conns, duration))
            for era, view in views.items():
                run = asdict(h.wrk(view, conns, duration))
                h.log(f"  {view.name} c={conns}: {_row(run)}")
                _keep_best(rows[era], conns, run)
    rows["processes_before_after"] = [before, len(only.processes()[1])]
    return rows


def _direct(
    server: SdkServer, backend: h.Target | None, conns: int, duration: int
) -> dict[str, Any]:
    if backend is not None:
        run = asdict(h.wrk(backend, conns, duration))
    else:
        env = h.target_env()
        run = front_drivers.stdio_front(
            server.command, env, server.tool, conns, duration, server.arguments
        )
    h.log(f"  direct {server.key} c={conns}: {_row(run)}")
    return run


def _keep_best(into: dict[str, Any], conns: int, run: dict[str, Any]) -> None:
    """The round with the highest throughput at ``conns``; errors of every round summed."""
    key = str(conns)
    current = into.get(key)
    errors = run["errors"] + (current["errors_all_rounds"] if current else 0)
    if current is None or run["rps"] > current["rps"]:
        into[key] = run
    into[key]["errors_all_rounds"] = errors


def _http_backend(server: SdkServer) -> h.Target:
    port = h.free_port()
    target = h.Target(
        f"direct {server.key}",
        server.command,
        port,
        tool=server.tool,
        ready_path=None,
        env={"PORT": str(port)},
        arguments=server.arguments,
    )
    return target.start(timeout=60)


def _config(server: SdkServer, scratch: Path, backend: h.Target | None) -> Path:
    lines = ["log_level: warning", "servers:", "  sdk:"]
    if backend is not None:
        lines += [f"    url: {json.dumps(backend.url)}", "    protocol: handshake"]
    else:
        lines += [f"    command: {json.dumps(server.command[0])}"]
        lines += [f"    args: {json.dumps(server.command[1:])}"]
    lines.append("    timeout: 10")
    path = scratch / f"sdk-{server.key.replace('/', '-')}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def summary(res: dict[str, Any]) -> list[str]:
    """One line per server and level: direct, then each era through Only1MCP and its ratio."""
    lines = []
    for key, rows in res.items():
        for level, direct in rows["direct"].items():
            parts = [f"{key} c={level}: direct {direct['rps']:.0f}/s"]
            for era in ERAS:
                run = rows[era].get(level)
                if run and direct["rps"]:
                    ratio = run["rps"] / direct["rps"]
                    parts.append(f"{era} {run['rps']:.0f}/s ({ratio:.0%}) p99 {run['p99_ms']:.2f}")
            lines.append(", ".join(parts))
    return lines


if __name__ == "__main__":
    for line in summary(measure(h.scratch_dir(), [1, 16], 3, 1)):
        print(line)


def _row(run: dict[str, Any]) -> str:
    return f"{run['rps']:.0f}/s p50 {run['p50_ms']:.3f} p99 {run['p99_ms']:.2f} ms"
