"""A replica pool over fake replicas: a wrapper that builds its replicas with the id source and
the events it gives them, and speaks the backend contract over them."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from only1mcp.backends import Backend, Wiring
from only1mcp.backends.base import Sink
from only1mcp.backends.pool import ReplicaPool
from only1mcp.config import HttpServerConfig, PoolServerConfig, StdioServerConfig
from only1mcp.errors import BackendError
from only1mcp.protocol import jsonrpc
from only1mcp.types import JsonObject

from .fake import QUIET, FakeServer, tool_call

pytestmark = pytest.mark.anyio


def _pool_config(replicas: int, **options: Any) -> PoolServerConfig:
    urls = [{"url": f"http://127.0.0.1:9/r{i}"} for i in range(replicas)]
    return PoolServerConfig(replicas=urls, protocol="handshake", **{**QUIET, **options})


def _pool(
    replicas: int = 2, on_message: Any = None, **options: Any
) -> tuple[ReplicaPool, list[FakeServer]]:
    built: list[FakeServer] = []

    def make(name: str, config: StdioServerConfig | HttpServerConfig, wiring: Wiring) -> FakeServer:
        assert isinstance(config, HttpServerConfig)
        built.append(FakeServer(name, config, wiring))
        return built[-1]

    pool = ReplicaPool("p", _pool_config(replicas, **options), make, Wiring(on_message))
    return pool, built


def _answered_by(replica: FakeServer) -> Any:
    async def tagged(params: JsonObject, sink: Sink | None) -> JsonObject:
        return {"content": [{"type": "text", "text": replica.name}]}

    return tagged


def _text(frame: bytes) -> str:
    text: str = orjson.loads(frame)["result"]["content"][0]["text"]
    return text


async def test_replicas_draw_ids_from_the_pool_and_report_to_it() -> None:
    seen: asyncio.Queue[tuple[Backend, JsonObject]] = asyncio.Queue()

    async def on_message(backend: Backend, frame: bytes) -> None:
        await seen.put((backend, orjson.loads(frame)))

    pool, replicas = _pool(on_message=on_message)
    await pool.start()
    try:
        ids = [pool.next_id() for _ in range(3)]
        sent = [m["id"] for r in replicas for m in r.sent]
        assert len(set(sent + ids)) == len(sent) + 3  # one id space for the whole pool
        replicas[1].push({"jsonrpc": "2.0", "id": 7, "method": "roots/list"})
        backend, msg = await seen.get()
        assert backend is pool and msg["id"] == "1:7"
        # The client's answer goes back to the replica that asked, with its own id.
        await pool.notify(jsonrpc.result("1:7", {"roots": []}))
        assert replicas[1].notified[-1] == {"jsonrpc": "2.0", "id": 7, "result": {"roots": []}}
        assert all(m.get("id") != 7 for m in replicas[0].notified)
    finally:
        await pool.close()


async def test_a_replica_that_is_down_gets_no_request() -> None:
    pool, replicas = _pool()
    replicas[0].refuse_connects = 1000
    await pool.start()
    replicas[1].handlers["tools/call"] = _answered_by(replicas[1])
    try:
        for _ in range(4):
            assert _text(await pool.forward(tool_call(pool, "echo"))) == "p[1]"
        assert not replicas[0].connected and pool.problem == ""
    finally:
        await pool.close()


async def test_a_failed_call_is_replayed_only_when_the_tool_says_it_is_safe() -> None:
    failures = {"left": 1}

    def failing_once(replica: FakeServer) -> Any:
        async def handler(params: JsonObject, sink: Sink | None) -> JsonObject:
            if failures["left"] > 0:
                failures["left"] -= 1
                raise BackendError("replica crashed mid-call")
            return {"content": [{"type": "text", "text": replica.name}]}

        return handler

    pool, replicas = _pool()
    await pool.start()
    for replica in replicas:
        replica.handlers["tools/call"] = failing_once(replica)
    try:
        call = tool_call(pool, "echo")
        with pytest.raises(BackendError, match="crashed"):
            await pool.forward(call)
        assert sum(m.get("id") == call.id for r in replicas for m in r.sent) == 1

        pool.tools_listed([{"name": "echo", "annotations": {"readOnlyHint": True}}])
        assert pool.safe_tools == {"echo"}
        failures["left"] = 1
        call = tool_call(pool, "echo")
        answer = await pool.forward(call)
        tried = [r.name for r in replicas for m in r.sent if m.get("id") == call.id]
        assert len(tried) == 2 and _text(answer) in tried  # the same id on the other replica
        assert orjson.loads(answer)["id"] == call.id
    finally:
        await pool.close()
