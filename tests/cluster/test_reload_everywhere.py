"""A config reload on one process reaches every process of the cluster (the ``events``
channel): SIGHUP to one of three, the file watcher off, and all three list the new server."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
import yaml
from e2e.conftest import fx_stdio_server
from e2e.stateless_wire import META, headers_for

from cluster.harness import Cluster, RedisServer, open_cluster

DEADLINE = 30.0


@pytest.fixture(scope="module")
def quiet(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Iterator[Cluster]:
    """Three processes that reload only when told (no file watcher)."""
    workdir = tmp_path_factory.mktemp("reload")
    with open_cluster(workdir, redis_server, 3, env={"ONLY1MCP_WATCH": "0"}) as cluster:
        yield cluster


def tool_names(http: httpx.Client, url: str) -> set[str]:
    msg = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": META}}
    resp = http.post(url, content=orjson.dumps(msg), headers=headers_for(msg))
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return {tool["name"] for tool in body["result"]["tools"]}


def test_sighup_to_one_process_reloads_all(quiet: Cluster) -> None:
    config = yaml.safe_load(quiet.config.read_text())
    second = fx_stdio_server("gx")
    second["prefix"] = "gx"
    config["servers"]["gx"] = second
    quiet.config.write_text(yaml.safe_dump(config, sort_keys=False))
    quiet.node(0).proc.send_signal(signal.SIGHUP)
    with httpx.Client(timeout=10) as http:
        end = time.monotonic() + DEADLINE
        lists: list[set[str]] = []
        while time.monotonic() < end:
            lists = [tool_names(http, quiet.url_of(i)) for i in range(3)]
            if all("gx__echo" in names for names in lists):
                break
            time.sleep(0.2)
        assert all("gx__echo" in names for names in lists), lists
