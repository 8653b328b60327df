"""Refusals at the HTTP front (403 by the roles, 429 by a rate limit) never reach the router:
they are counted where they are answered — ``only1mcp_access_denied_total``,
``only1mcp_rate_limited_total`` and their ``error_type`` in the server histogram."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from access.test_fronts import serving
from prometheus_client.parser import text_string_to_metric_families

from only1mcp.app import http_app
from only1mcp.config import parse_config
from only1mcp.front.origin import OriginPolicy

META_SERVER = Path(__file__).resolve().parent / "meta_server.py"
KEY = "metrics-key-0123456789abcdef"
VERSION = "2025-11-25"


@pytest.fixture(scope="module")
def scrape() -> Iterator[str]:
    config = parse_config(
        {
            "servers": {"m": {"command": sys.executable, "args": [str(META_SERVER)]}},
            "auth": {"modes": ["api_key"], "api_keys": [{"name": "k", "key": KEY, "roles": ["v"]}]},
            "access": {
                "roles": {"v": {"tools": ["m__meta"]}},
                "tools": {"m__meta": {"rate": {"per_second": 0.01, "burst": 1}}},
            },
            "metrics": {"on_main": True},
        },
        "refusals-test",
    )
    headers = {"authorization": f"Bearer {KEY}", "accept": "application/json, text/event-stream"}
    service = http_app(config, OriginPolicy([], "127.0.0.1"))
    with serving(service.asgi) as base, httpx.Client(base_url=base, headers=headers) as http:
        hello = {"protocolVersion": VERSION, "capabilities": {}}
        init = http.post("/mcp", json=_request("initialize", hello))
        session = {"mcp-session-id": init.headers["mcp-session-id"]}
        statuses = [
            http.post("/mcp", json=_call(name), headers=session).status_code
            for name in ("m__meta", "m__meta", "m__other")
        ]
        assert statuses == [200, 429, 403]
        yield http.get("/metrics").text


def _request(method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}


def _call(name: str) -> dict[str, Any]:
    return _request("tools/call", {"name": name, "arguments": {}})


def _value(text: str, name: str, **labels: str) -> float:
    found = [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    ]
    assert len(found) == 1, (name, labels)
    return found[0]


def test_refusals_have_counters_of_their_own(scrape: str) -> None:
    assert _value(scrape, "only1mcp_access_denied_total", mcp_method_name="tools/call") == 1
    assert _value(scrape, "only1mcp_rate_limited_total", mcp_method_name="tools/call") == 1


def test_refusals_are_operations_with_their_error_type(scrape: str) -> None:
    count = "mcp_server_operation_duration_seconds_count"
    assert _value(scrape, count, gen_ai_tool_name="m__meta", error_type="") == 1
    assert _value(scrape, count, gen_ai_tool_name="m__meta", error_type="-32029") == 1
    assert _value(scrape, count, gen_ai_tool_name="m__other", error_type="-32003") == 1
    # only the admitted call reached the backend
    calls = "mcp_client_operation_duration_seconds_count"
    assert _value(scrape, calls, server="m", gen_ai_tool_name="meta") == 1
