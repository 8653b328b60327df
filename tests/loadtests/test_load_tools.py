"""The load-test tooling's own pieces, on real processes: the HTTP echo backend in both eras
and both answer kinds, the legacy-SSE and stdio front drivers against a real Only1MCP, and the
path matrix's and the gate's judgements on made-up measurements."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from only1mcp.protocol.discover import Era, verdict

LOADTESTS = Path(__file__).resolve().parents[2] / "loadtests"
sys.path.insert(0, str(LOADTESTS))

import front_drivers  # noqa: E402
import gate  # noqa: E402
import harness  # noqa: E402
import matrix_paths  # noqa: E402
import path_report  # noqa: E402
import sdk_servers  # noqa: E402

STATELESS = {"mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": "echo"}
ACCEPT = {"accept": "application/json, text/event-stream"}


def _serve(cmd: list[str], port: int) -> Iterator[int]:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while harness.http_get(port, "/healthz") != 200:
            assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(params=[False, True], ids=["json", "sse"])
def backend(request: pytest.FixtureRequest) -> Iterator[tuple[str, bool]]:
    port = harness.free_port()
    cmd = [sys.executable, str(LOADTESTS / "http_echo_backend.py"), "--port", str(port)]
    for _ in _serve([*cmd, *(["--sse"] if request.param else [])], port):
        yield f"http://127.0.0.1:{port}/mcp", request.param


def _post(url: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[httpx.Response, Any]:
    resp = httpx.post(url, json=body, headers=ACCEPT | headers, trust_env=False)
    kind = resp.headers.get("content-type", "")
    return resp, harness.decode_answer(kind, resp.content) if resp.content else None


def test_backend_discover_is_what_only1mcp_calls_a_2026_server(backend: tuple[str, bool]) -> None:
    url, sse = backend
    body = {"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {}}
    resp, answer = _post(url, body, {"mcp-protocol-version": "2026-07-28"})
    assert resp.headers["content-type"].startswith("text/event-stream" if sse else "application")
    assert verdict(answer).era is Era.STATELESS


def test_backend_2026_call_needs_no_session(backend: tuple[str, bool]) -> None:
    url, _ = backend
    params = {"name": "echo", "arguments": {"a": 1}, "_meta": harness.stateless_meta()}
    _, answer = _post(
        url, {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params}, STATELESS
    )
    assert answer["id"] == 7
    assert answer["result"]["content"][0]["text"] == '{"a":1}'
    assert answer["result"]["resultType"] == "complete"


def test_backend_handshake_needs_its_session(backend: tuple[str, bool]) -> None:
    url, _ = backend
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "echo"}}
    resp, _ = _post(url, call, {})
    assert resp.status_code == 400
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25"},
    }
    resp, answer = _post(url, init, {})
    assert answer["result"]["protocolVersion"] == "2025-11-25"
    session = {"mcp-session-id": resp.headers["mcp-session-id"]}
    note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert _post(url, note, session)[0].status_code == 202
    _, answer = _post(url, call, session)
    assert answer["result"]["content"][0]["text"] == "{}"
    assert _post(url, call, {"mcp-session-id": "forged"})[0].status_code == 404


def test_dechunker_and_sse_events_across_any_split() -> None:
    stream = (
        b"event: endpoint\r\ndata: /messages?session_id=x\r\n\r\nevent: message\r\ndata: {}\r\n\r\n"
    )
    wire = b"".join(
        b"%x\r\n%s\r\n" % (len(stream[i : i + 7]), stream[i : i + 7])
        for i in range(0, len(stream), 7)
    )
    for cut in range(1, len(wire)):
        dechunk = front_drivers.Dechunker()
        assert dechunk.feed(wire[:cut]) + dechunk.feed(wire[cut:]) == stream


@pytest.fixture
def only1mcp(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    config = harness.write_config(
        tmp_path / "one.yaml", [sys.executable, str(LOADTESTS / "echo_backend.py")]
    )
    port = harness.free_port()
    cmd = [sys.executable, "-m", "only1mcp", "start", "--config", str(config), "--port", str(port)]
    for _ in _serve(cmd, port):
        yield port, config


def test_front_drivers_complete_calls_through_only1mcp(only1mcp: tuple[int, Path]) -> None:
    port, config = only1mcp
    legacy = front_drivers.legacy_sse(port, "bench__echo", 2, 0.5)
    assert legacy["requests"] > 10 and legacy["errors"] == 0
    cmd = [sys.executable, "-m", "only1mcp", "stdio", "--config", str(config)]
    piped = front_drivers.stdio_front(cmd, harness.target_env(), "bench__echo", 4, 0.5)
    assert piped["requests"] > 10 and piped["errors"] == 0
    assert 0 < piped["p50_ms"] <= piped["p99_ms"]


def test_the_stdio_driver_calls_a_registry_server_with_its_own_arguments() -> None:
    """The direct reference of the SDK-server rows: mcp-server-time (Python SDK, PyPI) over its
    own pipes, its tool called with its arguments (the echo backend's would be refused)."""
    (server,) = [s for s in sdk_servers.servers() if s.key == "py-time/stdio"]
    env = harness.target_env()
    run = front_drivers.stdio_front(server.command, env, server.tool, 2, 0.5, server.arguments)
    assert run["requests"] > 10 and run["errors"] == 0, run
    wrong = front_drivers.stdio_front(server.command, env, server.tool, 1, 0.3)
    assert wrong["errors"] == wrong["requests"] > 0, wrong


def _run(
    target: str, conns: int, rps: float, p50: float, p99: float, **extra: Any
) -> dict[str, Any]:
    row = {"target": target, "conns": conns, "rps": rps, "p50_ms": p50, "p99_ms": p99}
    return row | {"errors": 0, "errors_all_rounds": 0, "first_error": ""} | extra


def test_path_checks_name_each_missed_target() -> None:
    runs = [
        _run("2026/http-json", 16, 600, 1.0, 2.5, procs_before=0, procs_after=1, procs_grew=True),
        _run("2026/http-json", 1, 900, 0.50, 0.9),
        _run("2026/http-json", 64, 590, 4.0, 9.0),
        _run("nginx 2026/http-json", 16, 1000, 0.5, 1.0),
        _run("direct 2026/http-json", 1, 5000, 0.15, 0.4),
    ]
    res = {"runs": runs, "best": {f"{r['target']}@{r['conns']}": r for r in runs}}
    (row,) = path_report.evaluate(res)
    assert row.ratio == pytest.approx(0.6)
    failed = {goal for goal, _, ok in row.checks if ok is False}
    assert failed == {"1 conn p50 ≤ direct + 0.30 ms", "backend processes unchanged"}
    assert row.verdict == "FAIL"


def test_gate_fails_a_regression_and_a_spawn_but_not_noise() -> None:
    opts = argparse.Namespace(tolerance=0.15, p99_slack_ms=1.0)
    base = {"rps_ratio": 0.60, "p99_ratio": 1.0}
    now = {"errors": 0, "procs_grew": False, "procs": [], "rps_ratio": 0.55, "p99_ratio": 1.5}
    now |= {"p99_ms": 1.5, "ref_p99_ms": 1.0}
    assert gate.verdict(now, base, opts) == []  # -8% throughput, p99 within the slack
    assert len(gate.verdict(now | {"rps_ratio": 0.49}, base, opts)) == 1
    assert len(gate.verdict(now | {"procs_grew": True}, None, opts)) == 1


def test_a_ratio_divides_by_the_reference_of_the_same_round() -> None:
    """The best round of a path is judged against its reference's run of that round, not the
    reference's best of another round (the host may have been quieter then)."""
    runs = [
        _run("2026/http-json", 16, 600, 1.0, 2.5, round=1),
        _run("nginx 2026/http-json", 16, 1000, 0.5, 1.0, round=1),
        _run("2026/http-json", 16, 700, 1.0, 2.5, round=2),
        _run("nginx 2026/http-json", 16, 800, 0.5, 1.0, round=2),
    ]
    best = {"2026/http-json@16": runs[2], "nginx 2026/http-json@16": runs[1]}
    (row,) = path_report.evaluate({"runs": runs, "best": best})
    assert row.ratio == pytest.approx(700 / 800)
    assert row.by_round == pytest.approx([600 / 1000, 700 / 800])  # shown beside it


def test_each_path_runs_beside_its_references_in_every_rotation() -> None:
    paths = path_report.select(["handshake/stdio", "2026/stdio", "2026/http-json"])
    names = ["ceiling", "handshake/stdio", "2026/stdio", "2026/http-json"]
    names += ["nginx 2026/http-json", "direct 2026/http-json"]
    groups = matrix_paths.beside_references(names, paths)
    assert groups == [names[:3], names[3:]]
    for turn in range(4):
        order = matrix_paths.rotated(groups, turn)
        assert sorted(order) == sorted(names)
        http = [order.index(n) for n in names[3:]]
        assert max(http) - min(http) == 2  # back to back
    assert matrix_paths.rotated(groups, 0)[0] != matrix_paths.rotated(groups, 1)[0]
