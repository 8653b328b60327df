"""``subscriptions/listen`` on its own: a :class:`Listener` wired to the gateway's session store
and the router's dispatch (built by the composition root), an emit that keeps the stream."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from only1mcp.app import Core, assemble
from only1mcp.config import Config
from only1mcp.listen import Listener
from only1mcp.protocol import jsonrpc
from only1mcp.protocol.stateless import LISTEN_ACKNOWLEDGED, META_SUBSCRIPTION

pytestmark = pytest.mark.anyio

TINY = Path(__file__).resolve().parent / "fixtures" / "tiny_server.sh"


class Stream:
    """The listening client's side: every frame, and whether the stream ended."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.ended = False
        self.changed = asyncio.Event()

    async def emit(self, frame: bytes | None, last: bool) -> None:
        if frame is not None:
            self.frames.append(orjson.loads(frame))
        self.ended = self.ended or last
        self.changed.set()

    async def until(self, count: int) -> None:
        while len(self.frames) < count:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), 5)


def _core() -> Core:
    """Parts over a server that is never started (a listen needs none)."""
    config = Config.model_validate(
        {"servers": {"tiny": {"command": "/bin/sh", "args": [str(TINY)]}}}
    )
    core = assemble(config)
    core.gateway.ready.set()
    return core


def _listen(notifications: dict[str, Any]) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": "sub-1",
        "method": "subscriptions/listen",
        "params": {"notifications": notifications},
    }


async def test_a_listen_acknowledges_what_it_honours_and_forwards_only_that() -> None:
    core = _core()
    listener = Listener(core.gateway.sessions, core.router.handle)
    stream = Stream()
    gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    wanted = {"toolsListChanged": True, "promptsListChanged": False}
    serving = asyncio.ensure_future(
        listener.serve(
            _listen({**wanted, "resourceSubscriptions": ["nowhere://x"]}), stream.emit, gone
        )
    )
    await stream.until(1)
    ack = stream.frames[0]
    assert ack["method"] == LISTEN_ACKNOWLEDGED
    # An unknown resource is not honoured: the router refused its subscription.
    assert ack["params"]["notifications"] == {"toolsListChanged": True, "resourceSubscriptions": []}
    assert len(core.gateway.sessions) == 1  # the listen's hidden session
    core.gateway.sessions.broadcast(jsonrpc.notification("notifications/prompts/list_changed"))
    core.gateway.sessions.broadcast(jsonrpc.notification("notifications/tools/list_changed"))
    await stream.until(2)
    changed = stream.frames[1]
    assert changed["method"] == "notifications/tools/list_changed"
    assert changed["params"]["_meta"] == {META_SUBSCRIPTION: "sub-1"}
    gone.set_result(None)  # the client left
    await asyncio.wait_for(serving, 5)
    assert len(stream.frames) == 2 and not stream.ended
    assert len(core.gateway.sessions) == 0  # its hidden session is gone with it


async def test_a_listen_ends_with_a_result_when_the_server_stops() -> None:
    core = _core()
    listener = Listener(core.gateway.sessions, core.router.handle)
    stream = Stream()
    gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    serving = asyncio.ensure_future(listener.serve(_listen({}), stream.emit, gone))
    await stream.until(1)
    core.gateway.sessions.close_all()  # shutdown
    await asyncio.wait_for(serving, 5)
    assert stream.ended
    final = stream.frames[-1]
    assert final["id"] == "sub-1"
    assert final["result"] == {"_meta": {META_SUBSCRIPTION: "sub-1"}, "resultType": "complete"}
