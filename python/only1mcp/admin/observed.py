"""The router the composition root builds when the admin listener is on: it times each
``tools/call`` for the dashboard's :class:`~only1mcp.admin.stats.CallStats`.

A subclass rather than a hook in :mod:`only1mcp.router`: with the admin listener off the hot
path is the router's own, untouched.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Coroutine
from typing import Any

import orjson

from only1mcp.access.gate import Gate
from only1mcp.admin.stats import CallStats
from only1mcp.catalog.catalog import Entry
from only1mcp.errors import RpcError
from only1mcp.gateway import Gateway
from only1mcp.relay import Reply
from only1mcp.router import Inject, Router
from only1mcp.session import Session
from only1mcp.types import JsonObject

MAX_MESSAGE = 300


class ObservedRouter(Router):
    """A :class:`Router` that records every tool call in ``stats``."""

    def __init__(
        self,
        gateway: Gateway,
        gate: Gate | None = None,
        inject: Inject | None = None,
        *,
        stats: CallStats,
    ) -> None:
        super().__init__(gateway, gate, inject)
        self.stats = stats

    def _by_name(self, session: Session, msg: JsonObject, reply: Reply | None) -> Awaitable[bytes]:
        forwarded = super()._by_name(session, msg, reply)
        if msg["method"] != "tools/call":
            return forwarded
        return self._timed(forwarded, msg["params"]["name"])

    def call_tool(self, session: Session, msg: JsonObject, reply: Reply | None) -> Awaitable[bytes]:
        return self._timed(super().call_tool(session, msg, reply), msg["params"]["name"])

    def call_stateless(
        self, session: Session, msg: JsonObject, reply: Reply | None, entry: Entry
    ) -> Coroutine[Any, Any, bytes]:
        return self._timed(
            super().call_stateless(session, msg, reply, entry), msg["params"]["name"]
        )

    async def _timed(self, forwarded: Awaitable[bytes], name: object) -> bytes:
        name = str(name)
        entry = self.gateway.catalogs["tools"].lookup(name)
        server = entry.server if entry is not None else "?"
        start = time.perf_counter()
        try:
            answer = await forwarded
        except RpcError as exc:
            self.stats.record(server, name, time.perf_counter() - start, exc.message)
            raise
        self.stats.record(server, name, time.perf_counter() - start, failure(answer))
        return answer


def failure(answer: bytes) -> str | None:
    """What went wrong, for a JSON-RPC error or a result with ``isError`` (None: success).
    Only an answer that mentions either is decoded (a success costs three byte searches)."""
    if (
        b'"error"' not in answer
        and b'"isError":true' not in answer
        and b'"isError": true' not in answer
    ):
        return None
    try:
        msg = orjson.loads(answer)
    except orjson.JSONDecodeError:
        return "the answer is not JSON"
    if not isinstance(msg, dict):
        return None
    error = msg.get("error")
    if isinstance(error, dict):
        return str(error.get("message", "error"))[:MAX_MESSAGE]
    result = msg.get("result")
    if isinstance(result, dict) and result.get("isError") is True:
        return "tool error: " + _first_text(result)[:MAX_MESSAGE]
    return None


def _first_text(result: JsonObject) -> str:
    content = result.get("content")
    if isinstance(content, list):
        for block in content:
            if isinstance(block, dict) and isinstance(block.get("text"), str):
                return str(block["text"])
    return "(no text)"
