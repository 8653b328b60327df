"""The relay on its own: a backend's unsolicited frames reach the one client that caused them.

Real objects wired through their constructors: a :class:`SessionStore`, a :class:`Relay` over it,
backends built by the factory (never started: the relay routes by identity, it sends nothing
to them on these paths), and a :class:`Reply` that keeps what the client would be sent.
"""

from __future__ import annotations

import asyncio

import orjson
import pytest

from only1mcp.backends import Backend, create_backend
from only1mcp.config import StdioServerConfig
from only1mcp.errors import RpcError
from only1mcp.protocol import jsonrpc
from only1mcp.relay import RELATED_REQUEST, Relay
from only1mcp.session import Session, SessionStore

pytestmark = pytest.mark.anyio


class Kept:
    """A POST's channel to its client: keeps what precedes the response."""

    def __init__(self) -> None:
        self.frames: list[dict[str, object]] = []
        self.detached = False

    async def push(self, frame: bytes) -> None:
        self.frames.append(orjson.loads(frame))

    async def detach(self) -> None:
        self.detached = True


def _backend(name: str) -> Backend:
    return create_backend(name, StdioServerConfig(command="/bin/true"), None)


def _wired(*names: str) -> tuple[SessionStore, Relay, dict[str, Backend]]:
    sessions = SessionStore()
    relay = Relay(sessions, {name: name if name != "plain" else "" for name in names})
    return sessions, relay, {name: _backend(name) for name in names}


def _session(sessions: SessionStore, caps: dict[str, object] | None = None) -> Session:
    session = sessions.create()
    session.client_capabilities = caps or {}
    return session


async def test_progress_goes_to_the_exchange_its_token_names_with_the_clients_token() -> None:
    sessions, relay, backends = _wired("git")
    one, two = _session(sessions), _session(sessions)
    kept_one, kept_two = Kept(), Kept()
    relay.open(one, 1, kept_one, backends["git"], 41, "client-token")
    relay.open(two, 1, kept_two, backends["git"], 42, "other-token")
    progress = {"progressToken": 42, "progress": 1, "total": 2}
    await relay.from_backend(
        backends["git"], jsonrpc.notification("notifications/progress", progress)
    )
    assert kept_one.frames == []
    assert kept_two.frames[0]["params"] == {**progress, "progressToken": "other-token"}


async def test_progress_after_the_answer_is_dropped() -> None:
    sessions, relay, backends = _wired("git")
    session = _session(sessions)
    kept = Kept()
    exchange = relay.open(session, 7, kept, backends["git"], 3, "t")
    relay.close(exchange)
    frame = jsonrpc.notification("notifications/progress", {"progressToken": 3, "progress": 1})
    await relay.from_backend(backends["git"], frame)
    assert kept.frames == [] and session.events.after(0) == []


async def test_a_log_goes_to_the_only_session_in_flight_else_to_everyone() -> None:
    sessions, relay, backends = _wired("git")
    one, two = _session(sessions), _session(sessions)
    kept = Kept()
    relay.open(one, 1, kept, backends["git"], 1, None)
    log = jsonrpc.notification("notifications/message", {"level": "info", "data": "x"})
    await relay.from_backend(backends["git"], log)
    assert [f["method"] for f in kept.frames] == ["notifications/message"]
    relay.open(two, 1, Kept(), backends["git"], 2, None)  # now two sessions share the server
    await relay.from_backend(backends["git"], log)
    assert len(kept.frames) == 1  # ambiguous: not this exchange's …
    assert len(one.events.after(0)) == len(two.events.after(0)) == 1  # … but everyone's log


async def test_a_named_request_attributes_a_question_on_a_shared_channel() -> None:
    sessions, relay, backends = _wired("git")
    asker = _session(sessions, {"sampling": {}})
    other = _session(sessions, {"sampling": {}})
    kept = Kept()
    relay.open(asker, "c1", kept, backends["git"], 5, None)
    relay.open(other, "c2", Kept(), backends["git"], 6, None)
    params = {"messages": [], "maxTokens": 1, "_meta": {RELATED_REQUEST: 5}}
    await relay.from_backend(backends["git"], jsonrpc.request(99, "sampling/createMessage", params))
    (question,) = kept.frames
    assert question["method"] == "sampling/createMessage"
    assert question["id"] != 99 and str(question["id"]).startswith("only1mcp-")
    assert question["params"] == {"messages": [], "maxTokens": 1}  # our hint taken out


async def test_resource_updates_reach_subscribers_only_under_the_exposed_uri() -> None:
    sessions, relay, backends = _wired("docs_1", "plain")
    reader, bystander = _session(sessions), _session(sessions)
    relay.subscribe(reader, "docs-1+file:///a.md")
    updated = jsonrpc.notification("notifications/resources/updated", {"uri": "file:///a.md"})
    await relay.from_backend(backends["docs_1"], updated)
    (event,) = reader.events.after(0)
    assert orjson.loads(event[1])["params"]["uri"] == "docs-1+file:///a.md"
    assert bystander.events.after(0) == []
    assert relay.unsubscribe(reader, "docs-1+file:///a.md")  # nobody is left


async def test_ask_waits_for_the_clients_answer_and_refuses_an_undeclared_capability() -> None:
    sessions, relay, backends = _wired("git")
    session = _session(sessions, {"elicitation": {}})
    kept = Kept()
    exchange = relay.open(session, 1, kept, backends["git"], 1, None)
    asking = asyncio.ensure_future(relay.ask(exchange, "elicitation/create", {"message": "?"}))
    while not kept.frames:
        await asyncio.sleep(0)
    answer = {"jsonrpc": "2.0", "id": kept.frames[0]["id"], "result": {"action": "decline"}}
    await relay.from_client(session, answer)
    assert (await asking)["result"] == {"action": "decline"}
    with pytest.raises(RpcError, match="did not declare the 'sampling' capability"):
        await relay.ask(exchange, "sampling/createMessage", {})


async def test_cancelling_a_client_request_finds_its_exchange_by_the_clients_id() -> None:
    sessions, relay, backends = _wired("git")
    session = _session(sessions)
    exchange = relay.open(session, "abc", None, backends["git"], 9, None)
    assert relay.find(session, "abc") is exchange
    assert relay.find(session, ["not", "an", "id"]) is None
    relay.close(exchange)
    assert relay.find(session, "abc") is None
