"""Measuring the path matrix (see path_report.py): its processes, its wrk targets, its rounds.

Processes, each on a free loopback port: the ceiling app; one Only1MCP with the stdio echo
backend (both client eras are served by the same instance, so 2026 → stdio is compared with
handshake → stdio on one process); per HTTP backend kind (JSON, SSE) the backend, nginx in front
of it and two Only1MCPs pointing at it, one pinned to each era. Targets are *views* of those
processes (one per client era): ``direct E/K`` (wrk straight at the backend), ``nginx E/K``,
and the path ``E/K`` itself. Before and after every 2026 run the Only1MCP's descendant
processes are counted: a 2026 request must not spawn backends.

Used by run_load.py (all levels, rounds, the two front drivers; it prints :func:`summary`) and
gate.py (16 connections). The 2026 → stdio path against the handshake one, alone:

    .venv/bin/python loadtests/run_load.py --skip matrix,many,cold,locust --no-report \
        --paths handshake/stdio,2026/stdio --path-repeat 3 --out /tmp/eras.json
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import front_drivers
import harness as h
import nginx
import path_report as pr

ERA = {"handshake": "handshake", "2026": h.STATELESS}
# One wrk thread at every level, as issue 10 measured ("wrk -t1 -c16"): on 2 cores a second
# thread is a fourth busy process beside the target, its backend and the first one.
WRK_THREADS = 1


@dataclass
class View:
    target: h.Target
    role: str  # "path" | "ceiling" | "nginx" | "direct"
    levels: set[int] | None = None  # the concurrency levels it is measured at (None: all)


@dataclass
class Matrix:
    """The processes and views for a set of paths; start() … stop() around the measurements."""

    paths: list[pr.PathDef]
    backend: list[str]
    scratch: Path
    processes: list[h.Target] = field(default_factory=list)
    views: dict[str, View] = field(default_factory=dict)
    stdio_only1mcp: h.Target | None = None
    at_start: dict[str, int] = field(default_factory=dict)  # descendants once ready, per view

    def __post_init__(self) -> None:
        keys = {p.key for p in self.paths}
        stdio = [p for p in self.paths if p.backend == "stdio"]
        if any(p.gate_reference == "ceiling" or p.reference == "ceiling" for p in stdio):
            ceiling = h.ceiling_target()
            self.processes.append(ceiling)
            self.views["ceiling"] = View(ceiling, "ceiling")
        if stdio:
            config = h.write_config(self.scratch / "paths-stdio.yaml", self.backend)
            only = self.stdio_only1mcp = h.only1mcp_target("only1mcp stdio", config)
            self.processes.append(only)
            for path in stdio:
                if path.wrk and not path.auth:
                    self.views[path.key] = View(only.view(path.key, ERA[path.era]), "path")
            for path in (p for p in stdio if p.auth):
                self._auth(path)
            if (
                keys & {"2026/stdio", "handshake/stdio+auth"}
                and "handshake/stdio" not in self.views
            ):
                self.views["handshake/stdio"] = View(
                    only.view("handshake/stdio", "handshake"), "path"
                )
        for kind in ("http-json", "http-sse"):
            self._http(kind, [p for p in self.paths if p.backend == kind])

    def _auth(self, path: pr.PathDef) -> None:
        """The same stdio path on an Only1MCP of its own with auth on: every request carries
        a JWT (HS256), verified on its first use and then found in the token cache."""
        config = h.write_config(self.scratch / "paths-stdio-auth.yaml", self.backend, auth=True)
        only = h.only1mcp_target(f"only1mcp {path.key}", config)
        only.headers = h.auth_headers()
        self.processes.append(only)
        self.views[path.key] = View(only.view(path.key, ERA[path.era]), "path")

    def _http(self, kind: str, paths: list[pr.PathDef]) -> None:
        if not paths:
            return
        sse = kind == "http-sse"
        backend = h.http_backend_target(f"backend {kind}", sse)
        proxy = nginx.nginx_target(f"nginx {kind}", backend, sse, self.scratch)
        proxy.upstream = backend
        self.processes += [backend, proxy]
        for path in paths:
            era = ERA[path.era]
            spoken = path.backend_era or era  # to the backend
            config = h.write_http_config(
                self.scratch / f"paths-{path.key.replace('/', '-')}.yaml", backend.url, spoken
            )
            only = h.only1mcp_target(f"only1mcp {path.key}", config)
            only.upstream = backend
            self.processes.append(only)
            self.views[path.key] = View(only.view(path.key, era), "path")
            name = f"nginx {path.key}"
            self.views[name] = View(proxy.view(name, era), "nginx")
            if path.direct_p50_slack_ms is not None:
                name = f"direct {path.key}"
                self.views[name] = View(backend.view(name, era), "direct", {1, 16})

    @contextlib.contextmanager
    def running(self) -> Iterator[Matrix]:
        """Start the processes (backends before what points at them), open every view's
        session; stop them all on the way out."""
        started: list[h.Target] = []
        try:
            for proc in self.processes:
                h.log(f"starting {proc.name} on :{proc.port}")
                started.append(proc)
                proc.start()
            for name, view in self.views.items():
                view.target.open_session()
                self.at_start[name] = descendants(view.target)
            yield self
        finally:
            for proc in reversed(started):
                proc.stop()

    def warm_up(self, conns: int = 16, seconds: int = 1) -> None:
        for view in self.views.values():
            h.wrk(view.target, conns, seconds)

    def measure(
        self, name: str, conns: int, duration: int, retries: int = 0
    ) -> list[dict[str, Any]]:
        """wrk on one view (again while disturbed, up to ``retries`` times); 2026 path runs
        also count the server's descendant processes before and after."""
        view = self.views[name]
        counted = view.role == "path" and view.target.era == h.STATELESS
        before = descendants(view.target) if counted else None
        out = []
        for run in h.wrk_quiet(view.target, conns, duration, retries=retries, threads=WRK_THREADS):
            row = asdict(run)
            if before is not None:
                # Against the count at start too: the warm-up may have spawned them already.
                start, after = self.at_start[name], descendants(view.target)
                grew = after > before or after > start
                row |= {"procs_start": start, "procs_before": before, "procs_after": after}
                row["procs_grew"] = grew
            out.append(row)
        return out


def descendants(target: h.Target) -> int:
    _, children = target.processes()
    return len(children)


# --------------------------------------------------------------------- run_load's scenario


def run(
    paths: list[pr.PathDef],
    backend: list[str],
    scratch: Path,
    conns: list[int],
    duration: int,
    repeat: int,
    retries: int,
) -> dict[str, Any]:
    """Every level of every path and reference, interleaved, best of ``repeat`` rounds; then
    the two fronts wrk cannot drive."""
    matrix = Matrix(paths, backend, scratch)
    runs: list[dict[str, Any]] = []
    fronts: dict[str, dict[str, dict[str, Any]]] = {}
    with matrix.running():
        matrix.warm_up()
        groups = beside_references(list(matrix.views), paths)
        for rep in range(repeat):
            for c in conns:
                for name in rotated(groups, rep):
                    levels = matrix.views[name].levels
                    if levels is not None and c not in levels:
                        continue
                    for row in matrix.measure(name, c, duration, retries):
                        h.log(f"paths round {rep + 1}/{repeat} {_row(row)}")
                        runs.append(row | {"round": rep + 1})
            fronts_round(matrix, paths, backend, conns, duration, fronts)
    return {
        "duration_s": duration,
        "repeat": repeat,
        "conns": conns,
        "runs": runs,
        "best": best_runs(runs),
        "fronts": fronts,
    }


def beside_references(names: list[str], paths: list[pr.PathDef]) -> list[list[str]]:
    """The targets in groups of a path and what it is compared with (its reference, and the
    reference's own), so that a path's run and its reference's are seconds apart in a round,
    whatever the rotation; the stdio paths, which refer to each other, are one group."""
    by_path = {p.key: p for p in paths}
    groups: dict[str, list[str]] = {}
    for name in names:
        key = name.removeprefix("nginx ").removeprefix("direct ")
        path = by_path.get(key)
        stdio = key == "ceiling" or (path is not None and path.backend == "stdio")
        groups.setdefault("stdio" if stdio else key, []).append(name)
    return list(groups.values())


def rotated(groups: list[list[str]], turn: int) -> list[str]:
    """Round ``turn``'s order: the groups rotated, and the targets within each, so that no
    target is always first (just after another group's load) or last."""
    turn_groups = turn % max(1, len(groups))
    order = groups[turn_groups:] + groups[:turn_groups]
    return [name for g in order for name in g[turn % len(g) :] + g[: turn % len(g)]]


def fronts_round(
    matrix: Matrix,
    paths: list[pr.PathDef],
    backend: list[str],
    conns: list[int],
    duration: int,
    fronts: dict[str, dict[str, dict[str, Any]]],
) -> None:
    """One round of the legacy-SSE and stdio fronts at 1 and 16 calls in flight (best kept)."""
    for path in (p for p in paths if not p.wrk):
        for c in (c for c in conns if c in (1, 16)):
            if path.front == "legacy-sse" and matrix.stdio_only1mcp is not None:
                port = matrix.stdio_only1mcp.port
                got = front_drivers.legacy_sse(port, "bench__echo", c, duration)
            elif path.front == "stdio":
                config = h.write_config(matrix.scratch / "paths-stdio-front.yaml", backend)
                cmd = [str(h.PROJECT_BIN / "only1mcp"), "stdio", "--config", str(config)]
                got = front_drivers.stdio_front(cmd, h.target_env(), "bench__echo", c, duration)
            else:
                continue
            h.log(
                f"{path.key} c={c}: {got['rps']:,.0f}/s p50 {got['p50_ms']:.3f} p99 "
                f"{got['p99_ms']:.2f} ms err {got['errors']} "
                f"client CPU {got['client_cpu_pct']:.0f}%"
            )
            level = fronts.setdefault(path.key, {})
            old = level.get(str(c))
            got["errors"] += old["errors"] if old else 0
            if old is None or got["rps"] > old["rps"]:
                level[str(c)] = got
            else:
                old["errors"] = got["errors"]


def summary(result: dict[str, Any], paths: list[pr.PathDef]) -> list[str]:
    """Per path and level: its best calls/s against its reference's in the same round (seconds
    apart, so they compare), both p99s, and the backend process counts."""
    best = result["best"]
    lines = []
    for path in (p for p in paths if p.wrk):
        for conns in result["conns"]:
            run = best.get(f"{path.key}@{conns}")
            ref = run and path.reference and pr.paired(result, path.reference, run)
            if not run or not ref:
                continue
            procs = ""
            if "procs_before" in run:
                grew = "grew" if run["procs_grew"] else "unchanged"
                procs = f"  backend processes {run['procs_start']}→{run['procs_after']} ({grew})"
            lines.append(
                f"{path.key:<20} c={conns:<3} {run['rps']:>8,.0f}/s = "
                f"{run['rps'] / ref['rps']:6.1%} of {path.reference} ({ref['rps']:,.0f}/s); "
                f"p99 {run['p99_ms']:.2f} vs {ref['p99_ms']:.2f} ms{procs}"
            )
    return lines


def _row(row: dict[str, Any]) -> str:
    procs = ""
    if "procs_before" in row:
        procs = f" procs {row['procs_start']}/{row['procs_before']}→{row['procs_after']}"
    return (
        f"{row['target']:<28} c={row['conns']:<3} {row['rps']:>9.0f} rps  p50 "
        f"{row['p50_ms']:6.3f}  p99 {row['p99_ms']:7.3f} ms  err {row['errors']}  other load "
        f"{row['foreign_cpu_pct']:3.0f}%{procs}"
    )


def best_runs(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per target and level the round with the highest throughput; errors summed over rounds,
    process growth in any round kept."""
    best: dict[str, dict[str, Any]] = {}
    for run in runs:
        key = f"{run['target']}@{run['conns']}"
        current = best.get(key)
        errors = run["errors"] + (current["errors_all_rounds"] if current else 0)
        grew = run.get("procs_grew", False) or bool(current and current.get("procs_grew"))
        if current is None or run["rps"] > current["rps"]:
            best[key] = dict(run)
        best[key]["errors_all_rounds"] = errors
        if "procs_before" in run:
            best[key]["procs_grew"] = grew
    return best
