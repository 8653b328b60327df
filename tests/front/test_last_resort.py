"""A bug must not reach the wire: an exception no layer expected becomes JSON-RPC -32603.

The router answers it with the request's id; the HTTP front's ASGI entry, where the id may be
unknown, with id null and HTTP 200 — never a 500 from the HTTP server with a traceback. The
traceback goes to the log. The bugs are planted in subclasses (there is no real one left to
trigger: ``tests/e2e/test_backend_answers.py`` has the one that was found).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from only1mcp.audit import AuditLog
from only1mcp.config import Config
from only1mcp.front.http import McpEndpoint
from only1mcp.front.origin import OriginPolicy
from only1mcp.gateway import Gateway
from only1mcp.relay import Reply
from only1mcp.router import Router
from only1mcp.session import Session
from only1mcp.stateless import StatelessService
from only1mcp.types import JsonObject

pytestmark = pytest.mark.anyio

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "tiny_server.sh"


class BuggyLists(Router):
    async def _merged_list(self, session: Session, msg: JsonObject, reply: Reply | None) -> bytes:
        raise KeyError("a planted bug")


class BuggyRouter(Router):
    async def handle(
        self, session: Session, msg: JsonObject, reply: Reply | None = None
    ) -> bytes | None:
        raise RuntimeError("a planted bug")


def _gateway() -> Gateway:
    """A gateway over a server that is never started (nothing here reaches it)."""
    config = Config.model_validate(
        {"servers": {"tiny": {"command": "/bin/sh", "args": [str(TINY)]}}}
    )
    gateway = Gateway(config)
    gateway.ready.set()
    return gateway


async def test_the_router_answers_a_bug_with_32603(caplog: pytest.LogCaptureFixture) -> None:
    router = BuggyLists(_gateway())
    msg: JsonObject = {"jsonrpc": "2.0", "id": 3, "method": "tools/list"}
    answer = await router.handle(Session(id="s"), msg)
    assert answer is not None
    error = orjson.loads(answer)["error"]
    assert orjson.loads(answer)["id"] == 3
    assert error["code"] == -32603
    assert "tools/list" in error["message"] and "KeyError" in error["message"]
    assert "planted" not in error["message"] and "Traceback" not in error["message"]
    assert any(r.exc_info and "planted" in str(r.exc_info[1]) for r in caplog.records)


async def test_the_http_front_answers_a_bug_with_32603_not_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gateway = _gateway()
    router = BuggyRouter(gateway)
    stateless = StatelessService(gateway, router)
    audit = AuditLog(gateway.config.audit)
    endpoint = McpEndpoint(gateway, router, stateless, OriginPolicy([], "127.0.0.1"), audit)
    session = gateway.sessions.create()
    body = orjson.dumps({"jsonrpc": "2.0", "id": 4, "method": "tools/list"})
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/mcp",
        "headers": [
            (b"host", b"127.0.0.1:9"),
            (b"content-type", b"application/json"),
            (b"accept", b"application/json, text/event-stream"),
            (b"mcp-session-id", session.id.encode()),
        ],
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await endpoint(scope, receive, send)
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 200
    answer = orjson.loads(b"".join(m.get("body", b"") for m in sent[1:]))
    assert answer["error"]["code"] == -32603
    assert "RuntimeError" in answer["error"]["message"]
    assert any(r.exc_info and "planted" in str(r.exc_info[1]) for r in caplog.records)
