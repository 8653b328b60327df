"""The relay driven with a fake backend: the reverse path of progress and of a server→client
request, matched by backend-local ids."""

from __future__ import annotations

import orjson
import pytest
from backends.fake import FakeServer

from only1mcp.protocol import jsonrpc
from only1mcp.relay import Relay
from only1mcp.session import SessionStore
from only1mcp.types import JsonObject

pytestmark = pytest.mark.anyio


class Stream:
    """A request's stream to the client: what the relay pushed on it."""

    def __init__(self) -> None:
        self.pushed: list[JsonObject] = []

    async def push(self, frame: bytes) -> None:
        self.pushed.append(orjson.loads(frame))

    async def detach(self) -> None:
        raise AssertionError("no stream break in this test")


async def test_progress_and_a_question_of_a_fake_backend_reach_the_client_and_back() -> None:
    sessions = SessionStore()
    relay = Relay(sessions, {"fake": "fake"})
    backend = FakeServer()
    await backend.start()
    try:
        session = sessions.create()
        session.client_capabilities = {"sampling": {}}
        stream = Stream()
        local_id = backend.next_id()
        relay.open(session, "client-7", stream, backend, local_id, "their-token")

        progress = {"progressToken": local_id, "progress": 1}
        await relay.from_backend(backend, jsonrpc.notification("notifications/progress", progress))
        assert stream.pushed[-1]["params"] == {"progressToken": "their-token", "progress": 1}

        question = {"_meta": {"progressToken": local_id}, "messages": []}
        await relay.from_backend(backend, jsonrpc.request(41, "sampling/createMessage", question))
        asked = stream.pushed[-1]
        assert asked["method"] == "sampling/createMessage" and asked["id"] != 41
        await relay.from_client(session, {"jsonrpc": "2.0", "id": asked["id"], "result": {}})
        assert backend.notified[-1] == {"jsonrpc": "2.0", "id": 41, "result": {}}
    finally:
        await backend.close()
