"""``only1mcp start`` with ``metrics.on_main``: real calls through the real aggregator, then a
scrape of ``/metrics`` — names, labels and counts, and never a session id in a label."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from e2e.conftest import HttpAggregator, fx_stdio_server
from prometheus_client.parser import text_string_to_metric_families

from only1mcp.app import http_app
from only1mcp.config import Config
from only1mcp.front.origin import OriginPolicy
from only1mcp.telemetry.metrics import OPERATION_LABELS

VERSION = "2025-11-25"
STATELESS = "2026-07-28"
CALLS = {  # (tool, arguments) → how many times
    ("fx__echo", '{"text": "hi"}'): 3,
    ("fx__fail", '{"message": "no"}'): 2,
    ("fx__no_such_tool", "{}"): 1,
}


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(the /metrics text after the calls, the session id they were made in)."""
    work = tmp_path_factory.mktemp("metrics-e2e")
    config = {"servers": {"fx": fx_stdio_server()}, "metrics": {"on_main": True}}
    path = work / "only1mcp.yaml"
    path.write_text(yaml.safe_dump(config))
    running = HttpAggregator(path, work / "only1mcp.log")
    try:
        running.wait_healthy()
        with httpx.Client(timeout=30) as http:
            session = _initialize(http, running.url)
            for (tool, arguments), times in CALLS.items():
                for _ in range(times):
                    _post(http, running.url, session, "tools/call", _params(tool, arguments))
            _post(http, running.url, session, "bogus/method", {})
            _post(http, running.url, session, "prompts/get", {"name": "fx__nothing"})
            _post(http, running.url, session, "ping", {})
            for _ in range(2):  # a 2026 call: the straight path's, then the ladder's form
                _post_2026(http, running.url, "tools/call", _params("fx__echo", '{"text": "x"}'))
            _post_2026(http, running.url, "tools/list", {})
            scrape = http.get(f"{running.base}/metrics")
            assert scrape.status_code == 200
            assert scrape.headers["content-type"].startswith("text/plain")
            yield scrape.text, session
    finally:
        problems = running.stop()
    assert not problems, problems


def _params(tool: str, arguments: str) -> dict[str, Any]:
    return {"name": tool, "arguments": yaml.safe_load(arguments)}


def _initialize(http: httpx.Client, url: str) -> str:
    init = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {"protocolVersion": VERSION, "capabilities": {}, "clientInfo": {"name": "t"}},
    }
    answer = http.post(url, json=init, headers={"accept": "application/json, text/event-stream"})
    assert answer.status_code == 200, answer.text
    session = answer.headers["mcp-session-id"]
    note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    http.post(url, json=note, headers=_headers(session))
    return session


def _headers(session: str) -> dict[str, str]:
    return {
        "accept": "application/json, text/event-stream",
        "mcp-session-id": session,
        "mcp-protocol-version": VERSION,
    }


def _post(http: httpx.Client, url: str, session: str, method: str, params: dict[str, Any]) -> None:
    msg = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    assert http.post(url, json=msg, headers=_headers(session)).status_code == 200


def _post_2026(http: httpx.Client, url: str, method: str, params: dict[str, Any]) -> None:
    """A 2026-07-28 request: no session, the envelope in ``_meta``, the routing headers."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": STATELESS,
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    msg = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {**params, "_meta": meta}}
    headers = {
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": STATELESS,
        "mcp-method": method,
    }
    if "name" in params:
        headers["mcp-name"] = params["name"]
    assert http.post(url, json=msg, headers=headers).status_code == 200


def _samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    return [
        (sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


def _count(text: str, name: str, **labels: str) -> float:
    """The value of the one sample of ``name`` whose labels include ``labels``."""
    found = [v for got, v in _samples(text, name) if labels.items() <= got.items()]
    assert len(found) == 1, (name, labels, _samples(text, name))
    return found[0]


def _op(
    method: str, tool: str = "", prompt: str = "", error: str = "", version: str = VERSION
) -> dict[str, str]:
    return {
        "mcp_method_name": method,
        "gen_ai_tool_name": tool,
        "gen_ai_prompt_name": prompt,
        "error_type": error,
        "mcp_protocol_version": version,
    }


SERVER = "mcp_server_operation_duration_seconds_count"
CLIENT = "mcp_client_operation_duration_seconds_count"


def test_server_operations_by_method_tool_and_outcome(scraped: tuple[str, str]) -> None:
    text, _ = scraped
    assert _count(text, SERVER, **_op("tools/call", tool="fx__echo")) == 3
    assert _count(text, SERVER, **_op("tools/call", tool="fx__fail", error="tool_error")) == 2
    # a name the catalog does not have is no label value of its own
    assert _count(text, SERVER, **_op("tools/call", tool="_unknown", error="-32602")) == 1
    assert _count(text, SERVER, **_op("prompts/get", prompt="_unknown", error="-32602")) == 1
    assert _count(text, SERVER, **_op("_other", error="-32601")) == 1
    assert _count(text, SERVER, **_op("ping")) == 1
    assert _count(text, SERVER, **_op("initialize")) == 1
    assert not any("fx__no_such_tool" in str(labels) for labels, _ in _samples(text, SERVER))
    # a 2026 request is counted under the version it named (served, its envelope is gone)
    assert _count(text, SERVER, **_op("tools/call", tool="fx__echo", version=STATELESS)) == 2
    assert _count(text, SERVER, **_op("tools/list", version=STATELESS)) == 1
    buckets = [lb["le"] for lb, _ in _samples(text, SERVER.replace("_count", "_bucket"))]
    assert {"0.01", "0.02", "0.05", "300.0", "+Inf"} <= set(buckets)


def test_backend_calls_by_server_and_replica(scraped: tuple[str, str]) -> None:
    text, _ = scraped
    echo = {"server": "fx", "replica": "", **_op("tools/call", tool="echo")}
    assert _count(text, CLIENT, **echo) == 3
    failed = {"server": "fx", "replica": "", **_op("tools/call", tool="fail", error="tool_error")}
    assert _count(text, CLIENT, **failed) == 2
    # the unknown tool and the unknown method never reached the backend (the 2026 calls did)
    assert sum(v for _, v in _samples(text, CLIENT)) == 7  # the 2026 calls: 2


def test_gateway_state_gauges(scraped: tuple[str, str]) -> None:
    text, _ = scraped
    assert _count(text, "only1mcp_backend_up", server="fx") == 1
    assert _count(text, "only1mcp_breaker_state", server="fx", state="closed") == 1
    assert _count(text, "only1mcp_breaker_state", server="fx", state="open") == 0
    assert _count(text, "only1mcp_backend_restarts_total", server="fx") == 0
    assert _count(text, "only1mcp_backend_in_flight_requests", server="fx") == 0
    assert _count(text, "only1mcp_catalog_items", kind="tools") >= 3
    assert _count(text, "only1mcp_sessions") == 1
    assert _count(text, "only1mcp_config_generation") == 0


def test_no_session_or_request_id_in_any_label(scraped: tuple[str, str]) -> None:
    text, session = scraped
    assert session not in text
    allowed = {
        *OPERATION_LABELS,
        *("server", "replica", "state", "kind", "le", "result", "from_state", "to_state"),
    }
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            assert set(sample.labels) <= allowed, (sample.name, sample.labels)


@pytest.mark.anyio
@pytest.mark.parametrize("metrics", [{"enabled": False, "on_main": True}, {"on_main": False}])
async def test_no_metrics_on_the_main_listener_unless_asked(
    metrics: dict[str, Any], tmp_path: Path
) -> None:
    config = Config.model_validate({"servers": {"fx": fx_stdio_server()}, "metrics": metrics})
    service = http_app(config, OriginPolicy([], "127.0.0.1"))
    assert (service.front.mcp.observer is None) is (metrics.get("enabled") is False)
    transport = httpx.ASGITransport(app=service.asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        assert (await http.get("/metrics")).status_code == 404
