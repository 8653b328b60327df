"""The Streamable HTTP front at the wire level: status codes, headers and error bodies."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from .conftest import HttpAggregator, fx_stdio_server, running_aggregator, write_config

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t"}},
}
ACCEPT = {"Accept": "application/json, text/event-stream"}


@pytest.fixture(scope="module")
def aggregator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpAggregator]:
    workdir = tmp_path_factory.mktemp("wire")
    config = write_config(workdir / "only1mcp.yaml", {"fx": fx_stdio_server()})
    with running_aggregator(config, workdir / "only1mcp.log") as agg:
        yield agg


@pytest.fixture
def http(aggregator: HttpAggregator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=aggregator.url, headers=ACCEPT, timeout=10) as client:
        yield client


def _session(http: httpx.Client) -> dict[str, str]:
    resp = http.post("", json=INIT)
    assert resp.status_code == 200
    sid = resp.headers["mcp-session-id"]
    assert len(sid) >= 32 and sid.isascii() and sid.isprintable()
    headers = {"mcp-session-id": sid, "mcp-protocol-version": "2025-11-25"}
    assert (
        http.post(
            "", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers
        ).status_code
        == 202
    )
    return headers


def test_initialize_negotiates_and_returns_a_session(http: httpx.Client) -> None:
    resp = http.post("", json=INIT)
    body = resp.json()
    assert resp.headers["content-type"] == "application/json"
    assert body["result"]["protocolVersion"] == "2025-11-25"
    assert body["result"]["capabilities"]["tools"] == {"listChanged": True}
    old = {**INIT, "params": {**INIT["params"], "protocolVersion": "2024-11-05"}}  # type: ignore[dict-item]
    assert http.post("", json=old).json()["result"]["protocolVersion"] == "2024-11-05"
    future = {**INIT, "params": {**INIT["params"], "protocolVersion": "2099-01-01"}}  # type: ignore[dict-item]
    assert http.post("", json=future).json()["result"]["protocolVersion"] == "2025-11-25"


def test_session_ids_are_unique(http: httpx.Client) -> None:
    ids = {http.post("", json=INIT).headers["mcp-session-id"] for _ in range(5)}
    assert len(ids) == 5


def test_malformed_json_is_a_parse_error(http: httpx.Client) -> None:
    resp = http.post("", content=b'{"jsonrpc": "2.0", "id": 1, "method": ', headers=_session(http))
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == -32700
    assert resp.json()["id"] is None


@pytest.mark.parametrize(
    "body",
    [
        b'{"id": 1, "method": "tools/list"}',
        b'{"jsonrpc": "2.0", "id": 1, "method": 5}',
        b'{"jsonrpc": "2.0", "id": null, "method": "tools/list"}',
        b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": [1]}',
        b"42",
    ],
)
def test_invalid_requests_are_rejected(http: httpx.Client, body: bytes) -> None:
    resp = http.post("", content=body, headers=_session(http))
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == -32600


def test_missing_session_is_400_and_unknown_session_is_404(http: httpx.Client) -> None:
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    assert http.post("", json=call).status_code == 400
    assert http.post("", json=call, headers={"mcp-session-id": "nope"}).status_code == 404


def test_unsupported_protocol_version_header_is_400(http: httpx.Client) -> None:
    headers = {**_session(http), "mcp-protocol-version": "1999-01-01"}
    resp = http.post("", json={"jsonrpc": "2.0", "id": 2, "method": "ping"}, headers=headers)
    assert resp.status_code == 400
    assert "1999-01-01" in resp.json()["error"]["message"]


def test_unknown_method_is_method_not_found(http: httpx.Client) -> None:
    resp = http.post(
        "", json={"jsonrpc": "2.0", "id": "x", "method": "nope/nothing"}, headers=_session(http)
    )
    assert resp.status_code == 200
    assert resp.json() == {
        "jsonrpc": "2.0",
        "id": "x",
        "error": {"code": -32601, "message": "Method not found: nope/nothing"},
    }


def test_call_keeps_the_clients_id(http: httpx.Client) -> None:
    headers = _session(http)
    for client_id in ['a"quoted\\id', 0, -7, "ünïcode"]:
        call = {
            "jsonrpc": "2.0",
            "id": client_id,
            "method": "tools/call",
            "params": {"name": "fx__echo", "arguments": {"text": "hi"}},
        }
        body = http.post("", json=call, headers=headers).json()
        assert body["id"] == client_id
        assert body["result"]["content"][0]["text"] == "hi"


def test_foreign_origin_and_host_are_forbidden(http: httpx.Client) -> None:
    resp = http.post("", json=INIT, headers={"Origin": "https://evil.example"})
    assert resp.status_code == 403
    resp = http.post("", json=INIT, headers={"Host": "evil.example"})
    assert resp.status_code == 403
    assert http.post("", json=INIT, headers={"Origin": "http://localhost:3000"}).status_code == 200


def test_delete_ends_the_session(http: httpx.Client) -> None:
    headers = _session(http)
    assert http.delete("", headers=headers).status_code == 200
    resp = http.post("", json={"jsonrpc": "2.0", "id": 3, "method": "ping"}, headers=headers)
    assert resp.status_code == 404


def test_other_http_methods_are_405(http: httpx.Client) -> None:
    assert http.put("", json=INIT).status_code == 405
    assert http.get("", headers={**_session(http), "Accept": "application/json"}).status_code == 405


def test_get_stream_opens_for_a_session(http: httpx.Client) -> None:
    headers = {**_session(http), "Accept": "text/event-stream"}
    with http.stream("GET", "", headers=headers) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")


def test_health_reports_servers(aggregator: HttpAggregator) -> None:
    body = httpx.get(f"{aggregator.base}/healthz").json()
    sessions = body.pop("sessions")
    assert isinstance(sessions, int) and sessions >= 0
    # decided before the fixture handed the aggregator over (wait_healthy)
    assert body == {"status": "ok", "servers": {"fx": "ready"}, "failures": {}, "probing": 0}


def test_invalid_cursor_is_invalid_params(http: httpx.Client) -> None:
    for cursor in ["garbage!", "eyJrIjoicHJvbXB0cyIsIm8iOjB9", 7]:
        call = {"jsonrpc": "2.0", "id": 4, "method": "tools/list", "params": {"cursor": cursor}}
        body = http.post("", json=call, headers=_session(http)).json()
        assert body["error"]["code"] == -32602, cursor


def test_batches_only_in_2025_03_26(http: httpx.Client) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "ping"},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "fx__echo", "arguments": {"text": "b"}},
        },
    ]
    resp = http.post("", json=batch, headers=_session(http))
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == -32600

    old = {**INIT, "params": {**INIT["params"], "protocolVersion": "2025-03-26"}}  # type: ignore[dict-item]
    sid = http.post("", json=old).headers["mcp-session-id"]
    headers = {"mcp-session-id": sid, "mcp-protocol-version": "2025-03-26"}
    answers = http.post("", json=batch, headers=headers).json()
    assert sorted(a["id"] for a in answers) == [1, 2]
    by_id = {a["id"]: a for a in answers}
    assert by_id[2]["result"]["content"][0]["text"] == "b"


def test_cancelled_call_ends_at_once_and_frees_the_backend(http: httpx.Client) -> None:
    import concurrent.futures
    import time

    headers = _session(http)
    call = {
        "jsonrpc": "2.0",
        "id": "slow",
        "method": "tools/call",
        "params": {"name": "fx__sleep", "arguments": {"seconds": 30}},
    }
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pending = pool.submit(http.post, "", json=call, headers=headers)
        time.sleep(0.5)
        started = time.monotonic()
        cancel = {
            "jsonrpc": "2.0",
            "method": "notifications/cancelled",
            "params": {"requestId": "slow", "reason": "user pressed stop"},
        }
        assert http.post("", json=cancel, headers=headers).status_code == 202
        answer = pending.result(timeout=5).json()
        assert time.monotonic() - started < 2.0
    assert answer["id"] == "slow"
    assert answer["error"]["code"] == -32800
    echo = {
        "jsonrpc": "2.0",
        "id": 9,
        "method": "tools/call",
        "params": {"name": "fx__echo", "arguments": {"text": "still here"}},
    }
    body = http.post("", json=echo, headers=headers).json()
    assert body["result"]["content"][0]["text"] == "still here"
