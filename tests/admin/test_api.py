"""The admin API of a real ``only1mcp start``: what it reports of real backends, its actions,
and its guards (Origin/Host; with authentication on, credentials and the admin role)."""

from __future__ import annotations

import concurrent.futures
import contextlib
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil
import pytest
from e2e.conftest import EXIT_DEADLINE

from only1mcp.config.auth import hash_key

from .conftest import SECRET, AdminAggregator, admin_aggregator

HANDSHAKE = "2025-06-18"


def by_name(client: httpx.Client) -> dict[str, dict[str, Any]]:
    servers = client.get("/api/servers").json()["servers"]
    return {server["name"]: server for server in servers}


def call(client: httpx.Client, name: str, **arguments: Any) -> dict[str, Any]:
    resp = client.post("/api/tools/call", json={"name": name, "arguments": arguments})
    assert resp.status_code == 200, resp.text
    answer: dict[str, Any] = resp.json()
    return answer


def wait_for(check: Any, deadline: float = 20.0) -> None:
    end = time.monotonic() + deadline
    while not check():
        assert time.monotonic() < end, "condition not met in time"
        time.sleep(0.1)


def test_servers_report_state_replicas_and_breaker(running: AdminAggregator) -> None:
    with running.client() as admin:
        servers = by_name(admin)
    assert list(servers) == ["fx", "web", "pl"]
    fx = servers["fx"]
    assert (fx["transport"], fx["state"], fx["breaker"], fx["healthy"]) == (
        "stdio",
        "ready",
        "closed",
        True,
    )
    assert isinstance(fx["pid"], int) and fx["restarts"] == 0 and fx["tools"] > 0
    assert servers["web"]["transport"] == "http" and servers["web"]["state"] == "ready"
    pool = servers["pl"]
    assert pool["transport"] == "pool"
    assert [r["name"] for r in pool["replicas"]] == ["pl[0]", "pl[1]"]
    assert {r["state"] for r in pool["replicas"]} == {"ready"}
    assert len({r["pid"] for r in pool["replicas"]}) == 2


def test_sessions_are_counted_by_era(running: AdminAggregator) -> None:
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": HANDSHAKE,
            "capabilities": {},
            "clientInfo": {"name": "admin-test", "version": "9.9"},
        },
    }
    headers = {"accept": "application/json, text/event-stream"}
    with httpx.Client(timeout=30) as mcp, running.client() as admin:
        before = admin.get("/api/sessions").json()
        resp = mcp.post(running.agg.url, json=init, headers=headers)
        sid = resp.headers["mcp-session-id"]
        during = admin.get("/api/sessions").json()
        mcp.delete(running.agg.url, headers={"mcp-session-id": sid})
        after = admin.get("/api/sessions").json()
    assert during["count"] == before["count"] + 1
    assert during["by_era"]["handshake"] == before["by_era"]["handshake"] + 1
    assert during["by_version"][HANDSHAKE] >= 1
    shown = [s for s in during["sessions"] if s["client"] == "admin-test 9.9"]
    assert len(shown) == 1 and shown[0]["era"] == "handshake"
    assert sid not in str(during)  # a session id is its client's secret: only a prefix shows
    assert shown[0]["id"].startswith(sid[:8])
    assert after["count"] == before["count"]


def test_tools_are_the_merged_catalog(running: AdminAggregator) -> None:
    with running.client() as admin:
        tools = {t["name"]: t for t in admin.get("/api/tools").json()["tools"]}
    assert tools["fx__echo"]["server"] == "fx"
    assert tools["pl__echo"]["server"] == "pl"
    assert tools["web__add"]["inputSchema"]["required"] == ["a", "b"]


def test_config_is_redacted(running: AdminAggregator) -> None:
    with running.client() as admin:
        resp = admin.get("/api/config")
    assert resp.status_code == 200
    assert SECRET not in resp.text
    assert resp.json()["servers"]["fx"]["env"]["FIXTURE_TOKEN"] == "***"


def test_tool_calls_feed_the_stats_and_recent_errors(running: AdminAggregator) -> None:
    with running.client() as admin:
        assert call(admin, "fx__echo", text="hello")["result"]["content"][0]["text"] == "hello"
        failed = call(admin, "fx__fail", message="boom")
        assert failed["result"]["isError"] is True
        unknown = call(admin, "fx__nope")
        assert unknown["error"]["code"] == -32602
        stats = admin.get("/api/stats").json()
    echo = stats["tools"]["fx__echo"]
    assert echo["calls"] >= 1 and echo["errors"] == 0 and echo["p99_ms"] > 0
    assert stats["tools"]["fx__fail"]["errors"] >= 1
    assert stats["servers"]["fx"]["calls"] >= 2
    assert any(e["tool"] == "fx__fail" and "boom" in e["message"] for e in stats["errors"])


def test_restart_replaces_the_process(running: AdminAggregator) -> None:
    with running.client() as admin:
        before = by_name(admin)["fx"]
        resp = admin.post("/api/servers/fx/restart")
        assert resp.status_code == 200, resp.text
        after = resp.json()
        assert after["state"] == "ready"
        assert after["pid"] != before["pid"]
        assert after["restarts"] == before["restarts"] + 1
        assert call(admin, "fx__add", a=2, b=3)["result"]["structuredContent"] == {"result": 5}


def test_concurrent_restarts_leave_one_process(running: AdminAggregator) -> None:
    with running.client() as admin:
        before = by_name(admin)["fx"]["restarts"]
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda _: admin.post("/api/servers/fx/restart"), range(2)))
        assert [a.status_code for a in answers] == [200, 200]
        now = by_name(admin)["fx"]
    assert now["restarts"] == before + 2
    wait_for(lambda: fixture_pids(running.agg.proc.pid, "fx") == [now["pid"]])


def fixture_pids(root: int, name: str) -> list[int]:
    """The aggregator's fixture server processes named ``name`` (a process ending is skipped)."""
    found = []
    for child in psutil.Process(root).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if child.cmdline()[-2:] == ["--name", name] and child.status() != "zombie":
                found.append(child.pid)
    return found


def test_disable_then_enable_a_server(running: AdminAggregator) -> None:
    with running.client() as admin:
        resp = admin.post("/api/servers/pl/disable")
        assert resp.status_code == 200, resp.text
        assert resp.json()["state"] == "disabled"
        names = [t["name"] for t in admin.get("/api/tools").json()["tools"]]
        assert not [n for n in names if n.startswith("pl__")] and "fx__echo" in names
        assert call(admin, "pl__echo", text="x")["error"]["message"] == "Unknown tool: pl__echo"
        assert admin.post("/api/servers/pl/disable").status_code == 409
        resp = admin.post("/api/servers/pl/enable")
        assert resp.status_code == 200, resp.text
        assert resp.json()["state"] == "ready"
        assert call(admin, "pl__echo", text="back")["result"]["content"][0]["text"] == "back"


def test_actions_on_unknown_or_running_servers(running: AdminAggregator) -> None:
    with running.client() as admin:
        assert admin.get("/api/servers/nope").status_code == 404
        assert admin.post("/api/servers/nope/restart").json() == {"error": "no server named 'nope'"}
        resp = admin.post("/api/servers/fx/enable")
        assert resp.status_code == 409 and "not disabled" in resp.json()["error"]


def test_reload_applies_the_file_or_keeps_the_running_config(running: AdminAggregator) -> None:
    """The same file: nothing to do, a new generation. A broken one: 422 naming the file, the
    servers keep running, and the overview shows the refusal (the e2e reload tests change
    servers; this module's aggregator keeps its three)."""
    path: Path = running.config
    original = path.read_text()
    try:
        with running.client() as admin:
            before = admin.get("/api/overview").json()["config"]["generation"]
            same = admin.post("/api/config/reload")
            assert same.status_code == 200
            assert same.json()["changes"] == {"added": [], "removed": [], "changed": []}
            assert same.json()["ok"] is True and same.json()["generation"] > before
            path.write_text(original.replace("servers:", "servers: [", 1))
            broken = admin.post("/api/config/reload")
            assert broken.status_code == 422
            assert str(path) in broken.json()["detail"]
            assert by_name(admin)["web"]["state"] == "ready"  # the running config stays
            last = admin.get("/api/overview").json()["config"]["last_reload"]
            assert last["ok"] is False and str(path) in last["error"]
    finally:
        path.write_text(original)


def test_log_level(running: AdminAggregator) -> None:
    with running.client() as admin:
        assert admin.post("/api/log-level", json={"level": "warning"}).json() == {
            "level": "warning"
        }
        assert admin.get("/api/overview").json()["log_level"] == "warning"
        bad = admin.post("/api/log-level", json={"level": "loud"})
        assert bad.status_code == 422 and bad.json()["detail"].startswith("level:")
        admin.post("/api/log-level", json={"level": "info"})


@pytest.mark.parametrize(
    "headers",
    [{"origin": "https://evil.example"}, {"host": "evil.example"}],
    ids=["origin", "host"],
)
def test_foreign_origin_or_host_is_refused(
    running: AdminAggregator, headers: dict[str, str]
) -> None:
    with running.client() as admin:
        resp = admin.post("/api/servers/fx/disable", headers=headers)
        assert resp.status_code == 403
        assert by_name(admin)["fx"]["state"] == "ready"


def test_openapi_documents_every_api_route(running: AdminAggregator) -> None:
    with running.client() as admin:
        document = admin.get("/openapi.json").json()
    assert document["openapi"] == "3.1.0"
    assert set(document["paths"]) == {
        "/api/overview",
        "/api/servers",
        "/api/servers/{name}",
        "/api/servers/{name}/restart",
        "/api/servers/{name}/disable",
        "/api/servers/{name}/enable",
        "/api/sessions",
        "/api/tools",
        "/api/tools/call",
        "/api/stats",
        "/api/config",
        "/api/config/reload",
        "/api/log-level",
    }


OPS_KEY = "ops-key-0123456789abcdef"
DEV_KEY = "dev-key-0123456789abcdef"


def test_with_auth_on_the_admin_role_is_required(tmp_path: Path, web_server: str) -> None:
    auth = {
        "modes": ["api_key"],
        "api_keys": [
            {"name": "ops", "hash": hash_key(OPS_KEY), "roles": ["owner"]},
            {"name": "dev", "hash": hash_key(DEV_KEY), "roles": ["dev"]},
        ],
    }
    # "owner" inherits "admin": an admin too, with admin's grants (fx's tools only).
    roles = {"admin": {"tools": ["fx__*"]}, "owner": {"inherits": ["admin"]}, "dev": {}}
    access = {"roles": roles}
    with (
        admin_aggregator(tmp_path, web_server, extra={"auth": auth, "access": access}) as running,
        running.client() as admin,
    ):
        anonymous = admin.get("/api/servers")
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"].startswith("Bearer ")
        dev = admin.get("/api/servers", headers={"authorization": f"Bearer {DEV_KEY}"})
        assert dev.status_code == 403 and "admin" in dev.json()["detail"]
        ops = admin.get("/api/servers", headers={"authorization": f"Bearer {OPS_KEY}"})
        assert ops.status_code == 200 and len(ops.json()["servers"]) == 3
        page = admin.get("/", headers={"authorization": f"Bearer {OPS_KEY}"})
        assert page.status_code == 200 and "Only1MCP" in page.text
        admin.headers["authorization"] = f"Bearer {OPS_KEY}"
        # The playground calls as the operator: the access grants decide, as on /mcp.
        assert call(admin, "fx__echo", text="ok")["result"]["content"][0]["text"] == "ok"
        denied = call(admin, "web__echo", text="no")["error"]
        assert "web__echo" in denied["message"]


def test_an_open_event_stream_does_not_hold_up_the_stop(tmp_path: Path, web_server: str) -> None:
    with contextlib.ExitStack() as stack:
        running = stack.enter_context(admin_aggregator(tmp_path, web_server))
        admin = stack.enter_context(running.client())
        events = stack.enter_context(admin.stream("GET", "/api/events"))
        assert events.headers["content-type"].startswith("text/event-stream")
        lines = events.iter_lines()
        assert next(lines) == "event: snapshot"
        snapshot = orjson.loads(next(lines).removeprefix("data: "))
        assert {s["name"] for s in snapshot["servers"]} == {"fx", "web", "pl"}
        started = time.monotonic()
        problems = running.agg.stop()  # SIGTERM with the stream open
        assert not problems, problems  # exited 0 in time, nothing left behind
        assert time.monotonic() - started < EXIT_DEADLINE
        assert running.agg.proc.returncode == 0


def test_the_admin_listener_serves_the_metrics(running: AdminAggregator) -> None:
    with running.client() as admin:
        call(admin, "fx__echo", text="counted")
        scrape = admin.get("/metrics")
        refused = admin.get("/metrics", headers={"origin": "https://evil.example"})
    assert scrape.status_code == 200
    assert "mcp_client_operation_duration_seconds" in scrape.text
    assert refused.status_code == 403
