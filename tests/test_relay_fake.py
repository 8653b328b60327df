"""The relay driven with a fake backend: the reverse path of progress and of a server→client
request, matched by backend-local ids."""

from __future__ import annotations

import orjson
import pytest
from backends.fake import FakeServer

from only1mcp.protocol import jsonrpc
from only1mcp.relay import Relay
from only1mcp.session import Session, SessionStore
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


def asking(
    sessions: SessionStore, relay: Relay, backend: FakeServer, token: str | None
) -> tuple[Session, Stream, int]:
    """A session that can sample, with a call in flight on ``backend`` (its stream, local id)."""
    session = sessions.create()
    session.client_capabilities = {"sampling": {}}
    stream = Stream()
    local_id = backend.next_id()
    relay.open(session, "client-7", stream, backend, local_id, token)
    return session, stream, local_id


async def test_progress_and_a_question_of_a_fake_backend_reach_the_client_and_back() -> None:
    sessions = SessionStore()
    relay = Relay(sessions, {"fake": "fake"})
    backend = FakeServer()
    await backend.start()
    try:
        session, stream, local_id = asking(sessions, relay, backend, "their-token")

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


async def test_in_a_cluster_questions_name_their_node_and_other_answers_go_there() -> None:
    """Two processes must not ask one client with the same id; an answer to another node's
    question is handed to ``elsewhere`` (the cluster's channel to that node)."""
    forwarded: list[tuple[str, JsonObject]] = []

    async def elsewhere(session_id: str, msg: JsonObject) -> None:
        forwarded.append((session_id, msg))

    sessions = SessionStore()
    relay = Relay(sessions, {"fake": "fake"}, node="n1", elsewhere=elsewhere)
    backend = FakeServer()
    await backend.start()
    try:
        session, stream, local_id = asking(sessions, relay, backend, None)
        question = {"_meta": {"io.only1mcp/relatedRequestId": local_id}, "messages": []}
        await relay.from_backend(backend, jsonrpc.request(5, "sampling/createMessage", question))
        asked = stream.pushed[-1]["id"]
        assert asked.startswith("only1mcp-n1-")
        other = {"jsonrpc": "2.0", "id": "only1mcp-n2-1", "result": {}}
        await relay.from_client(session, other)
        assert forwarded == [(session.id, other)]
        await relay.answered(session.id, {"jsonrpc": "2.0", "id": asked, "result": {}})
        assert backend.notified[-1] == {"jsonrpc": "2.0", "id": 5, "result": {}}
    finally:
        await backend.close()
