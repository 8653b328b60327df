# ruff: noqa: RUF001, RUF002, RUF003, E501  (typographic characters and Markdown tables are intended)
"""The path matrix's definitions, targets and report section (pure: JSON in, text out).

A *path* is one way a tools/call goes through Only1MCP: a client era (handshake: initialize +
``Mcp-Session-Id``; 2026: stateless, the envelope in ``_meta`` and the ``Mcp-*`` headers) ×
a backend (the stdio echo backend; ``http_echo_backend.py`` answering JSON; the same answering
SSE), plus the two fronts wrk cannot drive (legacy HTTP+SSE, ``only1mcp stdio``). Each is
judged against a reference measured in the same run: the ceiling app or the handshake path for
stdio, nginx ``proxy_pass`` in front of the same backend for HTTP. ``matrix_paths.py`` measures,
``gate.py`` and ``report.py`` judge with what is here; the report runs in a venv that may have
nothing but matplotlib, so this module imports nothing of the project's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

C = 16  # the concurrency the ratios and p99 targets are judged at


@dataclass(frozen=True)
class PathDef:
    key: str  # also the name of its wrk target
    label: str
    era: str  # "handshake" | "2026"
    backend: str  # "stdio" | "http-json" | "http-sse"
    reference: str | None  # the target its report ratio divides by
    gate_reference: str | None  # the target its gate ratio divides by
    min_ratio: float | None = None
    max_p99_ms: float | None = None
    min_rps: float | None = None
    direct_p50_slack_ms: float | None = None  # 1-connection p50 ≤ backend-direct p50 + this
    scale_64: float | None = None  # calls/s at 64 connections ≥ this × at 16
    front: str = "http"  # "http" (wrk) | "legacy-sse" | "stdio" (own drivers, no target)
    backend_era: str | None = None  # the era Only1MCP speaks to an HTTP backend (None: era's)
    auth: bool = False  # an Only1MCP with auth on (JWT bearer, verified once, then cached)

    @property
    def wrk(self) -> bool:
        return self.front == "http"


def _http(
    era: str, backend: str, min_ratio: float, json: bool, backend_era: str | None = None
) -> PathDef:
    """An HTTP backend's row; with ``backend_era`` the backend is spoken to in that era (the
    2026 client → handshake-era server row, through the bridge) rather than the client's."""
    key = f"{era}/{backend}" + ("-hs" if backend_era else "")
    nginx = f"nginx {key}"
    return PathDef(
        key,
        f"{'2026-07-28' if era == '2026' else 'handshake'} client → "
        f"{'handshake-era ' if backend_era else ''}HTTP backend, "
        f"{'JSON' if json else 'SSE'} answers",
        era,
        backend,
        nginx,
        nginx,
        min_ratio=min_ratio,
        max_p99_ms=3.0 if json else None,
        direct_p50_slack_ms=0.30 if json else None,
        scale_64=0.90 if json else None,
        backend_era=backend_era,
    )


PATHS = [
    PathDef(
        "handshake/stdio",
        "handshake client → stdio backend",
        "handshake",
        "stdio",
        "ceiling",
        "ceiling",
        min_ratio=0.65,
        min_rps=20_000,
    ),
    PathDef(
        "2026/stdio",
        "2026-07-28 client → stdio backend",
        "2026",
        "stdio",
        "handshake/stdio",
        "ceiling",
        min_ratio=0.90,
        max_p99_ms=2.0,
    ),
    PathDef(
        "handshake/stdio+auth",
        "handshake client → stdio backend, auth on (JWT, cached)",
        "handshake",
        "stdio",
        "handshake/stdio",
        "handshake/stdio",
        min_ratio=0.85,  # issue 13: auth costs at most 15% of the same path without it
        auth=True,
    ),
    _http("handshake", "http-json", 0.50, json=True),
    _http("2026", "http-json", 0.50, json=True),
    _http("2026", "http-json", 0.50, json=True, backend_era="handshake"),
    _http("handshake", "http-sse", 0.35, json=False),
    _http("2026", "http-sse", 0.35, json=False),
    PathDef(
        "legacy-sse/stdio",
        "legacy HTTP+SSE client → stdio backend",
        "handshake",
        "stdio",
        None,
        None,
        front="legacy-sse",
    ),
    PathDef(
        "stdio-front/stdio",
        "`only1mcp stdio` client → stdio backend",
        "handshake",
        "stdio",
        None,
        None,
        front="stdio",
    ),
]
BY_KEY = {p.key: p for p in PATHS}
WRK_PATHS = [p for p in PATHS if p.wrk]


def select(keys: list[str] | None) -> list[PathDef]:
    """The paths named (all when None); an unknown name is an error."""
    if not keys:
        return list(PATHS)
    unknown = [k for k in keys if k not in BY_KEY]
    if unknown:
        raise SystemExit(f"unknown path(s) {unknown}; known: {', '.join(BY_KEY)}")
    return [BY_KEY[k] for k in keys]


BASELINE_KEYS = ("rps", "p50_ms", "p99_ms", "server_cpu_us")


def load_baseline(path: Path) -> dict[str, Any]:
    """benches/baseline.json's entries by path; a baseline recorded before the path matrix
    (one ratio, only1mcp vs ceiling) is the handshake/stdio path's."""
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    if "paths" in data:
        paths: dict[str, Any] = data["paths"]
        return paths
    old = {"reference": "ceiling", "rps_ratio": data["rps_ratio"], "p99_ratio": data["p99_ratio"]}
    old |= {k: data["only1mcp"][k] for k in BASELINE_KEYS}
    old |= {f"ref_{k}": data["ceiling"][k] for k in BASELINE_KEYS}
    old |= {"recorded": data.get("recorded"), "git_rev": data.get("git_rev")}
    return {"handshake/stdio": old}


# ---------------------------------------------------------------------------- judging


@dataclass
class Row:
    path: PathDef
    run: dict[str, Any] | None  # the best run at C connections
    ref: dict[str, Any] | None
    checks: list[tuple[str, str, bool | None]]
    by_round: list[float] = field(default_factory=list)  # the ratio in each round, in order

    @property
    def ratio(self) -> float | None:
        if self.run and self.ref and self.ref["rps"]:
            return float(self.run["rps"] / self.ref["rps"])
        return None

    @property
    def verdict(self) -> str:
        judged = [ok for _, _, ok in self.checks if ok is not None]
        if not judged:
            return "–"
        return "PASS" if all(judged) else "FAIL"


def best_of(res: dict[str, Any], target: str, conns: int = C) -> dict[str, Any] | None:
    best: dict[str, Any] | None = res.get("best", {}).get(f"{target}@{conns}")
    return best


def paired(res: dict[str, Any], reference: str, run: dict[str, Any]) -> dict[str, Any] | None:
    """The reference's run in the same round as ``run`` (the best of that round's retries):
    the two were measured seconds apart, so their ratio cancels the host's mood of the
    moment, which the two bests of different rounds would not. Results recorded before rounds
    were numbered: the reference's best."""
    if "round" not in run:
        return best_of(res, reference, run["conns"])
    same = [
        r
        for r in res.get("runs", [])
        if r["target"] == reference
        and r["conns"] == run["conns"]
        and r.get("round") == run["round"]
    ]
    return max(same, key=lambda r: float(r["rps"]), default=None)


def evaluate(res: dict[str, Any]) -> list[Row]:
    """One row per path measured, with its checks: (goal, measured, met?; None = not measured)."""
    rows = []
    for path in PATHS:
        if path.wrk:
            run = best_of(res, path.key)
            ref = run and path.reference and paired(res, path.reference, run)
        else:
            run, ref = res.get("fronts", {}).get(path.key, {}).get(str(C)), None
        if run is None:
            continue
        checks = _checks(res, path, run, ref or None)
        by_round = round_ratios(res, path.key, path.reference) if path.reference else []
        rows.append(Row(path, run, ref or None, checks, by_round))
    return rows


def round_ratios(res: dict[str, Any], target: str, reference: str) -> list[float]:
    """The path's throughput over its reference's (:func:`paired`) in each round, each the
    best of its retries, at C connections: how far the host's noise moves the one ratio
    judged."""
    by_round: dict[int, dict[str, Any]] = {}
    for r in res.get("runs", []):
        if r["target"] == target and r["conns"] == C and "round" in r:
            kept = by_round.get(r["round"])
            if kept is None or r["rps"] > kept["rps"]:
                by_round[r["round"]] = r
    ratios = []
    for _, run in sorted(by_round.items()):
        ref = paired(res, reference, run)
        if ref is not None and ref["rps"]:
            ratios.append(float(run["rps"] / ref["rps"]))
    return ratios


def _checks(
    res: dict[str, Any], path: PathDef, run: dict[str, Any], ref: dict[str, Any] | None
) -> list[tuple[str, str, bool | None]]:
    checks: list[tuple[str, str, bool | None]] = []
    errors = run.get("errors_all_rounds", run.get("errors", 0))
    if path.wrk:
        checks.append(("no errors", f"{errors}", errors == 0))
    if path.min_rps is not None:
        checks.append(
            (f"≥ {path.min_rps:,.0f}/s", f"{run['rps']:,.0f}/s", run["rps"] >= path.min_rps)
        )
    if path.min_ratio is not None:
        ratio = ref and ref["rps"] and run["rps"] / ref["rps"]
        checks.append(
            (
                f"≥ {path.min_ratio:.0%} of {path.reference}",
                f"{ratio:.0%}" if ratio else "no reference",
                bool(ratio and ratio >= path.min_ratio) if ratio else None,
            )
        )
    if path.max_p99_ms is not None:
        checks.append(
            (
                f"p99 ≤ {path.max_p99_ms:g} ms",
                f"{run['p99_ms']:.2f} ms",
                run["p99_ms"] <= path.max_p99_ms,
            )
        )
    if path.direct_p50_slack_ms is not None:
        one = best_of(res, path.key, 1)
        direct = best_of(res, f"direct {path.key}", 1)
        ok = one and direct and one["p50_ms"] <= direct["p50_ms"] + path.direct_p50_slack_ms
        measured = (
            f"{one['p50_ms']:.3f} vs {direct['p50_ms']:.3f} ms"
            if one and direct
            else "not measured"
        )
        checks.append(
            (
                f"1 conn p50 ≤ direct + {path.direct_p50_slack_ms:.2f} ms",
                measured,
                bool(ok) if one and direct else None,
            )
        )
    if path.scale_64 is not None:
        many = best_of(res, path.key, 64)
        share = many and run["rps"] and many["rps"] / run["rps"]
        checks.append(
            (
                f"c=64 ≥ {path.scale_64:.0%} of c=16",
                f"{share:.0%}" if share else "not measured",
                bool(share and share >= path.scale_64) if share else None,
            )
        )
    if path.era == "2026" and path.wrk:
        grew = [r for r in res.get("runs", []) if r["target"] == path.key and r.get("procs_grew")]
        counted = [
            r for r in res.get("runs", []) if r["target"] == path.key and "procs_before" in r
        ]
        checks.append(
            (
                "backend processes unchanged",
                f"{len(grew)} of {len(counted)} runs spawned" if counted else "not counted",
                not grew if counted else None,
            )
        )
    return checks


# ---------------------------------------------------------------------------- report


def section(res: dict[str, Any] | None) -> list[str]:
    if not res:
        return []
    rows = evaluate(res)
    lines = [
        "## Every path",
        "",
        f"One row per way a call goes through Only1MCP, at {C} connections (best of "
        f"{res['repeat']} interleaved round(s) of {res['duration_s']} s; levels "
        f"{', '.join(str(c) for c in res['conns'])}; wrk with one thread, as issue 10 measured). "
        "A path and its references run back to back in each round, and its ratio divides its "
        "best round by its reference's run in that same round (*by round*: the ratio in each "
        "round, to show how far the host's noise moves it). *Client*: handshake = initialize + "
        "`Mcp-Session-Id`; 2026-07-28 = stateless, every request with `MCP-Protocol-Version`, "
        "`Mcp-Method`, `Mcp-Name` and the `_meta` envelope. *Backend*: the stdio echo backend, "
        "or `loadtests/http_echo_backend.py` (uvicorn + orjson, Streamable HTTP) answering JSON "
        "or SSE; Only1MCP speaks to an HTTP backend in the client's era (`protocol:` pinned). "
        "*Reference*, measured in the same run: the ceiling app (stdio, handshake), the "
        "handshake path (2026 → stdio), nginx `proxy_pass` with a keepalive upstream in front "
        "of the same backend, spoken to in the same era (HTTP). The legacy HTTP+SSE and stdio "
        "fronts are driven by `loadtests/front_drivers.py` (Python asyncio clients; their "
        "numbers include the client, see *client CPU*) and have no target.",
        "",
        "| path | calls/s | p50 ms | p99 ms | reference | reference calls/s | ratio | by round "
        "| target | result |",
        "|---|---:|---:|---:|---|---:|---:|---:|---|:-:|",
    ]
    for row in rows:
        r, ref = row.run or {}, row.ref
        target = "; ".join(
            f"{goal}: {measured} {'✓' if ok else '✗' if ok is not None else '–'}"
            for goal, measured, ok in row.checks
        )
        if not row.path.wrk:
            target = f"no target (client CPU {r.get('client_cpu_pct', 0):.0f}%)"
        ref_rps = f"{ref['rps']:,.0f}" if ref else "–"
        ratio = f"{row.ratio:.2f}" if row.ratio is not None else "–"
        by_round = " / ".join(f"{x:.2f}" for x in row.by_round) or "–"
        lines.append(
            f"| {row.path.label} | {r['rps']:,.0f} | {r['p50_ms']:.3f} | {r['p99_ms']:.2f} | "
            f"{row.path.reference or '–'} | {ref_rps} | {ratio} | {by_round} | {target} | "
            f"{row.verdict} |"
        )
    lines += ["", "All levels, paths and their references:", ""]
    lines += [
        "| target | conns | calls/s | p50 ms | p99 ms | errors | server CPU µs/call "
        "| backend CPU µs/call | HTTP backend CPU µs/call |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for _key, r in sorted(
        res.get("best", {}).items(), key=lambda kv: (kv[1]["target"], kv[1]["conns"])
    ):
        lines.append(
            f"| {r['target']} | {r['conns']} | {r['rps']:,.0f} | {r['p50_ms']:.3f} | {r['p99_ms']:.2f} | "
            f"{r['errors_all_rounds']} | {r['server_cpu_us']:.1f} | {r['backend_cpu_us']:.1f} | "
            f"{_upstream_cpu(r)} |"
        )
    for key, levels in res.get("fronts", {}).items():
        for conns, r in sorted(levels.items(), key=lambda kv: int(kv[0])):
            lines.append(
                f"| {key} | {conns} | {r['rps']:,.0f} | {r['p50_ms']:.3f} | {r['p99_ms']:.2f} | "
                f"{r['errors']} | – | – | – |"
            )
    lines += [
        "",
        "nginx's CPU is its worker's, in the *backend* column (the master only supervises). "
        "*HTTP backend CPU* is that of `http_echo_backend.py` behind an Only1MCP or nginx row "
        "(not a child of either, so counted apart; before it was counted, it showed up as "
        "other users' load). First bad response per target, if any:",
        "",
    ]
    first = {r["target"]: r["first_error"] for r in res.get("runs", []) if r.get("first_error")}
    lines += [f"- {t}: `{e[:200]}`" for t, e in first.items()] or ["- none"]
    return [*lines, ""]


def plot(ax_rps: Any, ax_p99: Any, res: dict[str, Any]) -> None:
    """A line per path (calls/s and p99 against connections) on two matplotlib axes."""
    styles = ["-", "--", "-.", ":"]
    for n, path in enumerate(PATHS):
        if path.wrk:
            points = sorted(
                (r["conns"], r) for r in res.get("best", {}).values() if r["target"] == path.key
            )
        else:
            points = sorted((int(c), r) for c, r in res.get("fronts", {}).get(path.key, {}).items())
        if not points:
            continue
        xs = [c for c, _ in points]
        kw = {"color": f"C{n}", "marker": "o.^v"[n % 4], "linestyle": styles[n // 2 % 4]}
        kw["label"] = path.key
        ax_rps.plot(xs, [r["rps"] for _, r in points], **kw)
        ax_p99.plot(xs, [r["p99_ms"] for _, r in points], **kw)
    nginx = [
        r
        for r in res.get("best", {}).values()
        if r["target"].startswith("nginx handshake/http-json")
    ]
    if nginx:
        points = sorted((r["conns"], r["rps"]) for r in nginx)
        ax_rps.plot(
            *zip(*points, strict=True),
            color="black",
            alpha=0.3,
            linewidth=3,
            linestyle="-",
            label="nginx (HTTP JSON)",
        )


def _upstream_cpu(run: dict[str, Any]) -> str:
    """The HTTP backend's CPU per call behind a row ("–" where there is none, or in results
    recorded before it was counted)."""
    value = run.get("upstream_cpu_us")
    return f"{value:.1f}" if value else "–"
