"""Handshake-era sessions across three processes (docs/scaling.md, "Sessions").

Each request goes to the process the test names (no balancer between), so the process that
opens a session, the one holding its stream and the one answering are certainly different:

* a session opened on one process is served by the others (re-homed from its Redis record);
* a backend's sampling request goes out on process 1's POST stream, the client's answer is
  POSTed to process 2, and reaches the backend through process 1;
* a notification a backend sends on process 2 reaches the client's GET stream on process 1;
* DELETE on one process ends the session on all of them (404 everywhere after);
* the SDK client through haproxy (no affinity) calls and samples without a failure.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import mcp_types as types
import orjson
import pytest
import yaml
from e2e.conftest import REPO_ROOT, fx_stdio_server, sampled, text_of
from mcp import Client
from mcp.client.session import ClientRequestContext

from cluster.harness import Cluster, RedisServer, open_cluster
from cluster.wire import answer_of, call, headers, initialize, post, sample_across, sse_messages

CONFORMANCE_SERVER = REPO_ROOT / "tests" / "fixtures" / "conformance_server.py"
SAMPLING = {"sampling": {}}


@pytest.fixture(scope="module")
def shared(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer
) -> Iterator[Cluster]:
    """Three processes: ``fx``, the conformance server (``cf``, its dynamic tool sends
    ``tools/list_changed``) and the fixture server with ``isolation: session`` (``fi``),
    metrics on."""
    conformance = {
        "command": sys.executable,
        "args": [str(CONFORMANCE_SERVER), "--transport", "stdio"],
        "env": {"PYTHONUNBUFFERED": "1"},
        "prefix": "cf",
        "timeout": 20,
    }
    isolated = {**fx_stdio_server("fi"), "prefix": "fi", "isolation": "session"}
    extra = {
        "servers": {"cf": conformance, "fi": isolated},
        "metrics": {"enabled": True, "on_main": True},
    }
    with open_cluster(tmp_path_factory.mktemp("sessions"), redis_server, 3, extra) as running:
        yield running


def prefix_of(cluster: Cluster) -> str:
    return str(yaml.safe_load(cluster.config.read_text())["cluster"]["key_prefix"])


def test_a_session_is_served_by_every_process(shared: Cluster, redis_server: RedisServer) -> None:
    with httpx.Client(timeout=15) as http:
        sid = initialize(http, shared.url_of(0), SAMPLING)
        for index in (1, 2, 0, 2):
            resp = post(http, shared.url_of(index), sid, call("fx__echo", {"text": f"p{index}"}))
            assert answer_of(resp)["result"]["content"][0]["text"] == f"p{index}"
        level = {"jsonrpc": "2.0", "id": 2, "method": "logging/setLevel"}
        level["params"] = {"level": "debug"}
        assert answer_of(post(http, shared.url_of(2), sid, level))["result"] == {}
        time.sleep(0.2)  # written after the answer
    record = orjson.loads(redis_server.client().get(f"{prefix_of(shared)}session:{sid}") or b"{}")
    assert record["revision"] == "2025-11-25"
    assert record["capabilities"] == SAMPLING
    assert record["client_info"]["name"] == "cluster-test"
    assert record["initialized"] is True
    assert record["log_level"] == "debug"
    ttl = redis_server.client().ttl(f"{prefix_of(shared)}session:{sid}")
    assert 0 < ttl <= 3600


def test_an_isolated_backend_starts_for_a_moved_session(shared: Cluster) -> None:
    def pid_at(http: httpx.Client, index: int, sid: str) -> int:
        answer = answer_of(post(http, shared.url_of(index), sid, call("fi__pid", {})))
        return int(answer["result"]["content"][0]["text"])

    with httpx.Client(timeout=30) as http:
        sid = initialize(http, shared.url_of(0), SAMPLING)
        first, second = pid_at(http, 0, sid), pid_at(http, 1, sid)
        assert first != second  # the session's own instance on each process
        assert pid_at(http, 0, sid) == first
        assert pid_at(http, 1, sid) == second


def test_an_unknown_session_is_still_404(shared: Cluster) -> None:
    with httpx.Client(timeout=15) as http:
        resp = post(http, shared.url_of(1), "no-such-session", call("fx__echo", {"text": "x"}))
    assert resp.status_code == 404


def test_sampling_answered_on_another_process(shared: Cluster) -> None:
    with httpx.Client(timeout=30) as http:
        sid = initialize(http, shared.url_of(0), SAMPLING)
        text = sample_across(http, shared.url_of(1), shared.url_of(2), sid, "through process 2")
    assert text == "through process 2"


def test_a_notification_reaches_the_stream_on_another_process(shared: Cluster) -> None:
    got: list[dict[str, Any]] = []
    opened = threading.Event()
    with httpx.Client(timeout=30) as http:
        sid = initialize(http, shared.url_of(0))

        def listen() -> None:
            with httpx.Client(timeout=30) as stream_http:
                get = {**headers(sid), "Accept": "text/event-stream"}
                with stream_http.stream("GET", shared.url_of(1), headers=get) as resp:
                    opened.set()
                    for msg in sse_messages(resp.iter_lines()):
                        got.append(msg)
                        if msg.get("method") == "notifications/tools/list_changed":
                            return

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        assert opened.wait(10)  # the stream's channel is subscribed before its headers
        resp = post(http, shared.url_of(2), sid, call("cf__test_dynamic_tool", {}))
        assert "result" in answer_of(resp)
        listener.join(15)
    assert any(m.get("method") == "notifications/tools/list_changed" for m in got), got


def test_delete_ends_the_session_everywhere(shared: Cluster, redis_server: RedisServer) -> None:
    with httpx.Client(timeout=15) as http:
        sid = initialize(http, shared.url_of(0))
        for index in (1, 2):  # every process holds it now
            assert "result" in answer_of(post(http, shared.url_of(index), sid, call("fx__pid", {})))
        resp = http.delete(shared.url_of(1), headers=headers(sid))
        assert resp.status_code == 200
        time.sleep(0.3)  # the end is announced to the others
        for index in (0, 1, 2):
            gone = post(http, shared.url_of(index), sid, call("fx__pid", {}))
            assert gone.status_code == 404, (index, gone.text)
    assert redis_server.client().get(f"{prefix_of(shared)}session:{sid}") is None


@pytest.mark.anyio
async def test_sdk_client_through_the_balancer(shared: Cluster) -> None:
    prompts: list[str] = []

    async def sampling(
        context: ClientRequestContext, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        content = params.messages[0].content
        prompts.append(content.text if isinstance(content, types.TextContent) else "")
        return sampled(f"sampled: {prompts[-1]}")

    async with Client(shared.url, mode="legacy", cache=None, sampling_callback=sampling) as client:
        for round_ in range(6):
            echoed = await client.call_tool("fx__echo", {"text": f"r{round_}"})
            assert text_of(echoed) == f"r{round_}"
        for round_ in range(3):
            result = await client.call_tool("fx__sample", {"prompt": f"s{round_}"})
            assert text_of(result) == f"sampled: s{round_}"
    assert prompts == ["s0", "s1", "s2"]


def test_health_and_gauge_say_redis_is_up(shared: Cluster) -> None:
    base = shared.url_of(0).removesuffix("/mcp")
    health = httpx.get(f"{base}/healthz", timeout=5).json()
    assert health["cluster"]["state"] == "ok"
    metrics = httpx.get(f"{base}/metrics", timeout=5).text
    assert "only1mcp_cluster_redis_up 1.0" in metrics


def test_legacy_sse_posts_reach_the_stream_on_another_process(shared: Cluster) -> None:
    """HTTP+SSE (2024-11-05): the stream on process 0, the POSTs on 1 and 2."""
    messages: queue.Queue[dict[str, Any]] = queue.Queue()
    endpoint: queue.Queue[str] = queue.Queue()
    base = [shared.url_of(i).removesuffix("/mcp") for i in range(3)]

    def listen() -> None:
        with (
            httpx.Client(timeout=30) as http,
            http.stream("GET", f"{base[0]}/sse", headers={"Accept": "text/event-stream"}) as resp,
        ):
            lines = resp.iter_lines()
            for line in lines:
                if line.startswith("data: /"):
                    endpoint.put(line[6:])
                    break
            for msg in sse_messages(lines):
                messages.put(msg)
                if msg.get("id") == 2:
                    return

    threading.Thread(target=listen, daemon=True).start()
    path = endpoint.get(timeout=10)
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2024-11-05",
            "capabilities": {},
            "clientInfo": {"name": "legacy", "version": "1"},
        },
    }
    with httpx.Client(timeout=15) as http:
        assert http.post(f"{base[1]}{path}", json=init).status_code == 202
        assert messages.get(timeout=10)["result"]["protocolVersion"] == "2024-11-05"
        initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        assert http.post(f"{base[2]}{path}", json=initialized).status_code == 202
        echo = call("fx__echo", {"text": "legacy, elsewhere"}, req_id=2)
        assert http.post(f"{base[2]}{path}", json=echo).status_code == 202
        answer = messages.get(timeout=15)
        assert answer["result"]["content"][0]["text"] == "legacy, elsewhere"
        unknown = f"{base[1]}/messages?session_id=nobody"
        assert http.post(unknown, json=echo).status_code == 404


def test_a_session_moves_only_for_its_own_principal(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    audit = tmp_path / "audit.jsonl"
    keys = {"alice": "alice-key-0123456789abcdef", "mallory": "mallory-key-0123456789abcdef"}
    extra = {
        "auth": {
            "modes": ["api_key"],
            "api_keys": [{"name": name, "key": key} for name, key in keys.items()],
        },
        "audit": {"path": str(audit)},
    }
    ping = {"jsonrpc": "2.0", "id": 3, "method": "ping"}
    with open_cluster(tmp_path / "auth", redis_server, 2, extra) as two, httpx.Client() as http:
        http.headers["X-API-Key"] = keys["alice"]
        sid = initialize(http, two.url_of(0))
        http.headers["X-API-Key"] = keys["mallory"]
        assert post(http, two.url_of(1), sid, ping).status_code == 404
        http.headers["X-API-Key"] = keys["alice"]
        assert answer_of(post(http, two.url_of(1), sid, ping))["result"] == {}
    events = [orjson.loads(line) for line in audit.read_text().splitlines()]
    refused = [e for e in events if e.get("event") == "session_mismatch"]
    assert refused, events
    assert refused[0]["principal"] == "key:mallory"


def test_junk_on_the_channels_stops_no_listener(shared: Cluster, redis_server: RedisServer) -> None:
    prefix, client = prefix_of(shared), redis_server.client()
    nodes = [
        httpx.get(shared.url_of(i).removesuffix("/mcp") + "/healthz", timeout=5).json()["cluster"]
        for i in range(3)
    ]
    for junk in (b"not json", b"[1, 2]", b'{"end": [1]}', b'{"answer": 1}'):
        client.publish(f"{prefix}sessions", junk)
        for node in nodes:
            client.publish(f"{prefix}node:{node['node']}", junk)
    with httpx.Client(timeout=30) as http:
        sid = initialize(http, shared.url_of(2), SAMPLING)
        text = sample_across(http, shared.url_of(0), shared.url_of(1), sid, "still listening")
    assert text == "still listening"
