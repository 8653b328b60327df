"""One server's backend on a fake transport: its collaborators (supervisor, call guard, era
probe) and the events it was built with, without a process or a socket."""

from __future__ import annotations

import asyncio
import re

import orjson
import pytest

from only1mcp.backends import Backend, BackendState, Wiring
from only1mcp.backends.base import Sink
from only1mcp.config import Protocol
from only1mcp.errors import BackendError, BackendTimeout, BackendUnavailable, RequestCancelled
from only1mcp.protocol import jsonrpc
from only1mcp.protocol.stateless import LATEST_STATELESS
from only1mcp.types import JsonObject

from .fake import FakeServer, fake_config, hang, tool_call

pytestmark = pytest.mark.anyio


class Recorder:
    """Events that a test can wait on."""

    def __init__(self) -> None:
        self.ready: asyncio.Queue[Backend] = asyncio.Queue()
        self.crash_loops: asyncio.Queue[Backend] = asyncio.Queue()
        self.messages: asyncio.Queue[tuple[Backend, JsonObject]] = asyncio.Queue()

    def wiring(self) -> Wiring:
        return Wiring(self._message, self._ready, self.crash_loops.put_nowait)

    async def _message(self, backend: Backend, frame: bytes) -> None:
        await self.messages.put((backend, orjson.loads(frame)))

    async def _ready(self, backend: Backend) -> None:
        await self.ready.put(backend)


async def test_start_settles_the_handshake_and_tells_the_events_it_was_built_with() -> None:
    seen = Recorder()
    backend = FakeServer(wiring=seen.wiring())
    await backend.start()
    try:
        assert await seen.ready.get() is backend
        assert backend.state is BackendState.READY and backend.problem == ""
        assert [m["method"] for m in backend.sent] == ["initialize"]
        assert [m["method"] for m in backend.notified] == ["notifications/initialized"]
        assert backend.capabilities == {"tools": {"listChanged": True}}
        backend.push({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
        source, msg = await seen.messages.get()
        assert source is backend and msg["method"] == "notifications/tools/list_changed"
    finally:
        await backend.close()
    assert backend.state is BackendState.CLOSED


async def test_the_discover_probe_finds_a_2026_server_without_initialize() -> None:
    async def discover(params: JsonObject, sink: Sink | None) -> JsonObject:
        return {"supportedVersions": [LATEST_STATELESS], "capabilities": {"tools": {}}}

    backend = FakeServer(config=fake_config(protocol=Protocol.AUTO))
    backend.handlers["server/discover"] = discover
    await backend.start()
    try:
        assert backend.stateless and backend.version == LATEST_STATELESS
        assert [m["method"] for m in backend.sent] == ["server/discover"]
        # Our own requests now carry the 2026 envelope.
        await backend.call("tools/list")
        assert "_meta" in backend.sent[-1]["params"]
    finally:
        await backend.close()


async def test_a_lost_connection_is_brought_back_by_the_supervisor() -> None:
    seen = Recorder()
    backend = FakeServer(wiring=seen.wiring())
    await backend.start()
    await seen.ready.get()
    try:
        backend.refuse_connects = 1  # the first reconnection fails too
        backend.drop("it went away")
        assert backend.state is BackendState.DOWN
        assert "it went away" in backend.problem
        assert await seen.ready.get() is backend
        assert backend.state is BackendState.READY
        assert backend.restarts == 1 and backend.connects == 3
    finally:
        await backend.close()


async def test_restarts_that_keep_failing_are_a_crash_loop_told_once() -> None:
    seen = Recorder()
    backend = FakeServer(wiring=seen.wiring())
    backend.refuse_connects = 1000
    with pytest.raises(BackendError):
        await backend.start()
    try:
        assert await seen.crash_loops.get() is backend
        assert backend.crash_looping
        assert re.match(r"crash loop \(\d+ failed restarts in a row\)", backend.problem)
        backend.refuse_connects = 0
        await seen.ready.get()
        assert not backend.crash_looping and backend.problem == ""
        assert seen.crash_loops.empty()
    finally:
        await backend.close()


async def test_transport_failures_open_the_breaker_and_later_calls_are_never_sent() -> None:
    async def broken(params: JsonObject, sink: Sink | None) -> JsonObject:
        raise BackendError("the pipe broke")

    backend = FakeServer(config=fake_config(breaker={"failures": 2, "cooldown": 60}))
    await backend.start()
    backend.handlers["tools/call"] = broken
    try:
        for _ in range(2):
            with pytest.raises(BackendError, match="the pipe broke"):
                await backend.forward(tool_call(backend, "echo"))
        sent = len(backend.sent)
        with pytest.raises(BackendUnavailable, match="circuit open"):
            await backend.forward(tool_call(backend, "echo"))
        assert len(backend.sent) == sent
    finally:
        await backend.close()


async def test_a_call_of_an_earlier_connection_does_not_count_against_the_new_one() -> None:
    seen = Recorder()
    release = asyncio.Event()

    async def doomed(params: JsonObject, sink: Sink | None) -> JsonObject:
        await release.wait()
        raise BackendError("the old process is gone")

    backend = FakeServer(config=fake_config(breaker={"failures": 1}), wiring=seen.wiring())
    backend.handlers["tools/call"] = doomed
    await backend.start()
    await seen.ready.get()
    try:
        call = tool_call(backend, "echo")
        task = asyncio.ensure_future(backend.forward(call))
        while not any(m.get("id") == call.id for m in backend.sent):
            await asyncio.sleep(0)
        backend.drop()
        await seen.ready.get()  # a new connection, a new epoch
        release.set()
        with pytest.raises(BackendError, match="old process"):
            await task
        assert backend.breaker.state == "closed"
    finally:
        await backend.close()


async def test_a_tool_timeout_applies_to_that_tool_only() -> None:
    backend = FakeServer(config=fake_config(timeout=30, timeouts={"tools": {"slow": 0.05}}))
    await backend.start()
    backend.handlers["tools/call"] = hang
    try:
        with pytest.raises(BackendTimeout, match=r"within 0\.05s"):
            await backend.forward(tool_call(backend, "slow"))
    finally:
        await backend.close()


async def test_progress_restarts_a_call_timeout_up_to_the_cap() -> None:
    release = asyncio.Event()

    async def slow(params: JsonObject, sink: Sink | None) -> JsonObject:
        await release.wait()
        return {"content": []}

    config = fake_config(timeout=0.3, timeouts={"max_with_progress": 10})
    backend = FakeServer(config=config)
    await backend.start()
    backend.handlers["tools/call"] = slow
    try:
        call = tool_call(backend, "slow", meta={"progressToken": None})  # None: its own id
        task = asyncio.ensure_future(backend.forward(call))
        for _ in range(6):  # 0.6 s in all: twice the timeout, each step within it
            await asyncio.sleep(0.1)
            backend.progressed(call.id)
        release.set()
        answer = orjson.loads(await task)
        assert answer["result"] == {"content": []}
    finally:
        await backend.close()


async def test_an_abandoned_call_ends_at_once_and_frees_its_breaker_slot() -> None:
    backend = FakeServer(config=fake_config(breaker={"failures": 1}))
    await backend.start()
    backend.handlers["tools/call"] = hang
    try:
        call = tool_call(backend, "echo")
        task = asyncio.ensure_future(backend.forward(call))
        while not any(m.get("id") == call.id for m in backend.sent):
            await asyncio.sleep(0)
        backend.abandon(call.id)
        with pytest.raises(RequestCancelled):
            await task
        assert backend.breaker.state == "closed"
        await backend.notify(jsonrpc.notification("notifications/cancelled"))
    finally:
        await backend.close()
