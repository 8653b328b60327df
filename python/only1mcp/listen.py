"""``subscriptions/listen`` (2026-07-28): list changes and resource updates for a stateless client.

A listen request is answered with a stream (SSE over HTTP, lines on stdio): an acknowledgement
first (naming the subset of the requested notifications we honour), then every matching
notification tagged with the subscription id (the listen request's JSON-RPC id), and a final
result when the server ends the stream. Behind it sits an ordinary hidden session: the gateway
already broadcasts list changes to every session, and the relay already sends resource updates
to subscribed sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from only1mcp.protocol import jsonrpc
from only1mcp.protocol.lists import LIST_KINDS
from only1mcp.protocol.stateless import LATEST_STATELESS, LISTEN_ACKNOWLEDGED, META_SUBSCRIPTION
from only1mcp.session import KEEPALIVE, Session, SessionStore
from only1mcp.types import JsonObject, RequestId

# Writes one frame to the listening client; ``last`` ends the stream (None: a keepalive).
Emit = Callable[[bytes | None, bool], Awaitable[None]]
# The router's dispatch of one request in a session: its answer frame.
Handle = Callable[[Session, JsonObject], Awaitable[bytes | None]]

# filter flag → the notification it lets through
LIST_FLAGS = {spec.listen_flag: spec.list_changed for spec in LIST_KINDS}
UPDATED = "notifications/resources/updated"


class Listener:
    def __init__(self, sessions: SessionStore, handle: Handle) -> None:
        self._sessions = sessions  # where list changes are broadcast: the hidden session joins
        self._handle = handle  # subscribes and unsubscribes it, as the router does for anyone

    async def serve(self, msg: JsonObject, emit: Emit, gone: asyncio.Future[Any]) -> None:
        """Follow the subscription until the client is ``gone`` or the server stops."""
        sub_id: RequestId = msg["id"]
        wanted = (msg.get("params") or {}).get("notifications")
        wanted = wanted if isinstance(wanted, dict) else {}
        session = self._sessions.create()
        session.protocol_version = LATEST_STATELESS
        session.hold()  # followed until the listen ends, which removes it
        honoured: JsonObject = {}
        try:
            honoured = await self._honour(session, wanted)
            ack = {"_meta": {META_SUBSCRIPTION: sub_id}, "notifications": honoured}
            await emit(jsonrpc.notification(LISTEN_ACKNOWLEDGED, ack), False)
            await self._follow(session, sub_id, honoured, emit, gone)
        finally:
            await self._release(session, honoured)

    async def _honour(self, session: Session, wanted: JsonObject) -> JsonObject:
        honoured: JsonObject = {flag: True for flag in LIST_FLAGS if wanted.get(flag) is True}
        uris = wanted.get("resourceSubscriptions")
        if isinstance(uris, list):
            # Each distinct URI once: a repeated one would cost a backend round trip per copy.
            distinct = dict.fromkeys(u for u in uris if isinstance(u, str))
            subscribed = [u for u in distinct if await self._subscribe(session, u)]
            honoured["resourceSubscriptions"] = subscribed
        return honoured

    async def _subscribe(self, session: Session, uri: str) -> bool:
        request = {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "resources/subscribe",
            "params": {"uri": uri},
        }
        answer = await self._handle(session, request)
        return answer is not None and b'"error"' not in answer

    async def _release(self, session: Session, honoured: JsonObject) -> None:
        for uri in honoured.get("resourceSubscriptions", ()):
            request = {
                "jsonrpc": "2.0",
                "id": 0,
                "method": "resources/unsubscribe",
                "params": {"uri": uri},
            }
            with contextlib.suppress(Exception):
                await self._handle(session, request)
        self._sessions.remove(session.id)

    async def _follow(
        self,
        session: Session,
        sub_id: RequestId,
        honoured: JsonObject,
        emit: Emit,
        gone: asyncio.Future[Any],
    ) -> None:
        methods = {LIST_FLAGS[flag] for flag in LIST_FLAGS if honoured.get(flag)}
        uris = set(honoured.get("resourceSubscriptions", ()))
        cursor = 0
        with contextlib.suppress(OSError):
            while not gone.done():
                if session.events.closed:
                    done = {"_meta": {META_SUBSCRIPTION: sub_id}, "resultType": "complete"}
                    await emit(jsonrpc.result(sub_id, done), True)
                    return
                for event_id, frame in session.events.after(cursor):
                    cursor = event_id
                    tagged = _tagged(frame, sub_id, methods, uris)
                    if tagged is not None:
                        await emit(tagged, False)
                if not await session.events.wait(KEEPALIVE, gone):
                    await emit(None, False)


def _tagged(frame: bytes, sub_id: RequestId, methods: set[str], uris: set[str]) -> bytes | None:
    """``frame`` with the subscription id in its ``_meta``, or None when the filter drops it."""
    msg: dict[str, Any] = orjson.loads(frame)
    method = msg.get("method")
    params = msg.get("params")
    params = params if isinstance(params, dict) else {}
    if method == UPDATED:
        if params.get("uri") not in uris:
            return None
    elif method not in methods:
        return None
    meta = params.get("_meta")
    params["_meta"] = {**(meta if isinstance(meta, dict) else {}), META_SUBSCRIPTION: sub_id}
    msg["params"] = params
    return orjson.dumps(msg)
