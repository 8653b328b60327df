"""Sessions belong to the principal that opened them, and the store's bounds reach the wire.

Driven in-process through the real ASGI app (a real gateway over a real stdio server), with the
principal put in the scope as the authentication middleware does.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import pytest

from only1mcp.auth.principal import Principal

from .asgi import INIT, open_stream, request, running_app

pytestmark = pytest.mark.anyio

ALICE = Principal("key:alice", frozenset({"dev"}))
MALLORY = Principal("key:mallory", frozenset({"dev"}))
PING = {"jsonrpc": "2.0", "id": 7, "method": "ping"}
NOTIFY_INIT = {k: v for k, v in INIT.items() if k != "id"}


def _headers(sid: str) -> dict[str, str]:
    return {"mcp-session-id": sid, "mcp-protocol-version": "2025-11-25"}


async def _audit_lines(path: Path) -> list[dict[str, object]]:
    for _ in range(200):  # written from the audit log's own thread
        if path.exists() and path.read_text():
            break
        await asyncio.sleep(0.01)
    return [orjson.loads(line) for line in path.read_text().splitlines()]


async def test_another_principals_session_is_not_found_and_audited(tmp_path: Path) -> None:
    audit = tmp_path / "audit.log"
    async with running_app({}, audit) as app:
        opened = await request(app, "POST", "/mcp", INIT, principal=ALICE)
        sid = opened.headers[b"mcp-session-id"].decode()
        stolen = await request(app, "POST", "/mcp", PING, _headers(sid), principal=MALLORY)
        assert stolen.status == 404
        assert stolen.json()["error"]["code"] == -32600
        unknown = await request(app, "POST", "/mcp", PING, _headers("nope"), principal=MALLORY)
        assert unknown.body == stolen.body  # indistinguishable from a session that is not there
        for method in ("GET", "DELETE"):
            other = await request(app, method, "/mcp", None, _headers(sid), principal=MALLORY)
            assert other.status == 404
        assert app.gateway.sessions.get(sid) is not None  # Mallory's DELETE ended nothing
        mine = await request(app, "POST", "/mcp", PING, _headers(sid), principal=ALICE)
        assert mine.status == 200 and mine.json()["result"] == {}
    events = [e for e in await _audit_lines(audit) if e.get("event") == "session_mismatch"]
    assert len(events) == 3
    assert all(e["principal"] == MALLORY.id and e["session"] == sid for e in events)


async def test_the_same_identity_with_a_fresher_credential_keeps_its_session() -> None:
    async with running_app({}) as app:
        opened = await request(app, "POST", "/mcp", INIT, principal=ALICE)
        sid = opened.headers[b"mcp-session-id"].decode()
        renewed = Principal(ALICE.id, frozenset({"dev", "ops"}), expires_at=2e9)
        answer = await request(app, "POST", "/mcp", PING, _headers(sid), principal=renewed)
        assert answer.status == 200
        assert app.gateway.sessions.get(sid).principal is renewed  # type: ignore[union-attr]


async def test_a_legacy_session_belongs_to_who_opened_its_stream(tmp_path: Path) -> None:
    audit = tmp_path / "audit.log"
    async with running_app({}, audit) as app:
        stream = open_stream(app, "/sse", principal=ALICE)
        endpoint = (await stream.first()).decode().split("data: ")[1].strip()
        query = urlsplit(endpoint).query.encode()
        stolen = await request(app, "POST", "/messages", PING, principal=MALLORY, query=query)
        assert stolen.status == 404
        mine = await request(app, "POST", "/messages", PING, principal=ALICE, query=query)
        assert mine.status == 202
        stream.gone.set()
        await stream.task
    events = [e for e in await _audit_lines(audit) if e.get("event") == "session_mismatch"]
    assert [e["principal"] for e in events] == [MALLORY.id]


async def test_initialize_as_a_notification_is_an_invalid_request() -> None:
    async with running_app({}) as app:
        answer = await request(app, "POST", "/mcp", NOTIFY_INIT)
        assert answer.status == 400
        assert answer.json() == {
            "jsonrpc": "2.0",
            "id": None,
            "error": {"code": -32600, "message": answer.json()["error"]["message"]},
        }
        assert "id" in answer.json()["error"]["message"]
        assert len(app.gateway.sessions) == 0  # no session was opened for it
        stream = open_stream(app, "/sse")
        endpoint = (await stream.first()).decode().split("data: ")[1].strip()
        query = urlsplit(endpoint).query.encode()
        legacy = await request(app, "POST", "/messages", NOTIFY_INIT, query=query)
        assert legacy.status == 400 and legacy.json()["error"]["code"] == -32600
        stream.gone.set()
        await stream.task


async def test_a_principal_with_every_session_busy_gets_429_with_retry_after() -> None:
    async with running_app({"max_sessions_per_principal": 2}) as app:
        first = await request(app, "POST", "/mcp", INIT, principal=ALICE)
        await request(app, "POST", "/mcp", INIT, principal=ALICE)
        third = await request(app, "POST", "/mcp", INIT, principal=ALICE)
        assert third.status == 200  # the least recently used idle one made room
        sid = first.headers[b"mcp-session-id"].decode()
        evicted = await request(app, "POST", "/mcp", PING, _headers(sid), principal=ALICE)
        assert evicted.status == 404
        for session in app.gateway.sessions:
            session.hold()  # a stream or a call open on each
        refused = await request(app, "POST", "/mcp", {**INIT, "id": "x"}, principal=ALICE)
        assert refused.status == 429
        assert int(refused.headers[b"retry-after"]) >= 1
        assert refused.json()["id"] == "x" and refused.json()["error"]["code"] == -32029
        other = await request(app, "POST", "/mcp", INIT, principal=MALLORY)
        assert other.status == 200


async def test_a_gateway_with_every_session_busy_gets_503() -> None:
    async with running_app({"max_sessions": 1}) as app:
        stream = open_stream(app, "/sse", principal=ALICE)  # the legacy stream holds it
        await stream.first()
        refused = await request(app, "POST", "/mcp", INIT, principal=MALLORY)
        assert refused.status == 503 and b"retry-after" in refused.headers
        assert refused.json()["error"]["code"] == -32030
        legacy = open_stream(app, "/sse", principal=MALLORY)
        await legacy.task
        assert legacy.status == 503
        stream.gone.set()
        await stream.task
        assert (await request(app, "POST", "/mcp", INIT, principal=MALLORY)).status == 200


async def test_an_open_get_stream_keeps_its_session_from_eviction() -> None:
    async with running_app({"max_sessions": 1}) as app:
        opened = await request(app, "POST", "/mcp", INIT)
        sid = opened.headers[b"mcp-session-id"].decode()
        stream = open_stream(app, "/mcp", _headers(sid))
        await stream.first()
        assert (await request(app, "POST", "/mcp", INIT)).status == 503
        stream.gone.set()
        await stream.task
        assert (await request(app, "POST", "/mcp", INIT)).status == 200
        assert app.gateway.sessions.get(sid) is None  # idle now: evicted for the newcomer
