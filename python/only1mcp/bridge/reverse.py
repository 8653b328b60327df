"""The reverse bridge: a handshake-era client's call to a 2026-07-28 (stateless) server.

A 2026 server cannot send its client a request mid-call. When it needs sampling, elicitation or
the client's roots it answers ``input_required`` instead: ``inputRequests`` (key → a request)
and an opaque ``requestState``, and expects the same call again with ``inputResponses`` (key →
that request's result). A handshake-era client knows nothing of this, but it does take
server→client requests on its call's stream. So each question becomes one such request, sent
through the relay (our id, the client's declared capabilities checked), and once every answer is
in, the call is retried with them and the server's ``requestState`` — as many rounds as the
server asks for. The client sees one call, some requests during it, and the final result.

The final result reaches the handshake client in the handshake form, as the server would give
that client directly: the 2026 additions (``resultType``, the caching hints ``ttlMs`` and
``cacheScope``, ``_meta["io.modelcontextprotocol/serverInfo"]``) are taken out. A client that
shows raw JSON would show them, and one that validates strictly could refuse them. Only a
result that holds one of them is decoded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from only1mcp.bridge.state import TTL
from only1mcp.errors import InternalError, RpcError
from only1mcp.protocol.stateless import META_SERVER_INFO
from only1mcp.relay import Exchange, Relay
from only1mcp.types import JsonObject

# Sends one round of the call with these params: (the server's answer, its exchange).
Round = Callable[[JsonObject], Awaitable[tuple[bytes, Exchange]]]

INPUT_REQUIRED = b'"input_required"'
# A server that is still asking after this many rounds is stuck in a loop.
MAX_ROUNDS = 64


async def complete(params: JsonObject, send: Round, relay: Relay) -> bytes:
    """Run the call until the server completes it (or fails it); its final answer frame."""
    for _ in range(MAX_ROUNDS):
        answer, exchange = await send(params)
        asked = questions(answer)
        if asked is None:
            return handshake_form(answer)
        requests, state = asked
        responses = await _ask_all(relay, exchange, requests)
        params = {**params, "inputResponses": responses}
        if state is None:
            params.pop("requestState", None)
        else:
            params["requestState"] = state
    raise InternalError(f"the server still asked for input after {MAX_ROUNDS} rounds")


# What 2026-07-28 adds to a result (the byte markers say whether a frame may hold any).
ADDED_KEYS = ("resultType", "ttlMs", "cacheScope")
_ADDED_MARKERS = (b'"resultType"', b'"ttlMs"', b'"cacheScope"', META_SERVER_INFO.encode())


def handshake_form(answer: bytes) -> bytes:
    """A 2026 server's answer frame as a handshake-era client expects it: the result without
    the 2026 additions (``ADDED_KEYS``, the serverInfo ``_meta`` entry, and a ``_meta`` left
    empty by that). Errors, and results without any of them, pass as they are."""
    if not any(marker in answer for marker in _ADDED_MARKERS):
        return answer
    msg: Any = orjson.loads(answer)
    result = msg.get("result") if isinstance(msg, dict) else None
    if not isinstance(result, dict):
        return answer
    for key in ADDED_KEYS:
        result.pop(key, None)
    meta = result.get("_meta")
    if isinstance(meta, dict) and META_SERVER_INFO in meta:
        del meta[META_SERVER_INFO]
        if not meta:
            del result["_meta"]
    return orjson.dumps(msg)


def questions(answer: bytes) -> tuple[JsonObject, object] | None:
    """(``inputRequests``, ``requestState``) of an ``input_required`` answer; None for any
    other answer (found without decoding it when the marker is absent)."""
    if INPUT_REQUIRED not in answer:
        return None
    msg: Any = orjson.loads(answer)
    result = msg.get("result") if isinstance(msg, dict) else None
    if not isinstance(result, dict) or result.get("resultType") != "input_required":
        return None
    requests = result.get("inputRequests")
    if not isinstance(requests, dict) or not requests:
        raise InternalError("the server answered input_required without inputRequests")
    return requests, result.get("requestState")


async def _ask_all(relay: Relay, exchange: Exchange, requests: JsonObject) -> JsonObject:
    """Every question at once; the first failure cancels the rest."""
    keys = list(requests)
    asking = [asyncio.ensure_future(_ask(relay, exchange, requests[key])) for key in keys]
    try:
        answers = await asyncio.gather(*asking)
    except BaseException:
        for task in asking:
            task.cancel()
        raise
    return dict(zip(keys, answers, strict=True))


async def _ask(relay: Relay, exchange: Exchange, request: object) -> JsonObject:
    if not isinstance(request, dict) or not isinstance(request.get("method"), str):
        raise InternalError("the server sent an inputRequests entry without a method")
    params = request.get("params")
    try:
        answer = await asyncio.wait_for(
            relay.ask(exchange, request["method"], params if isinstance(params, dict) else {}),
            TTL,
        )
    except TimeoutError as exc:
        raise RpcError(f"the client did not answer {request['method']} in time") from exc
    error = answer.get("error")
    if isinstance(error, dict):
        raise RpcError(
            str(error.get("message", "the client refused the request")),
            data=error.get("data"),
            code=error.get("code") if isinstance(error.get("code"), int) else None,
        )
    result = answer.get("result")
    if not isinstance(result, dict):
        raise RpcError(f"the client answered {request['method']} without a result")
    return result
