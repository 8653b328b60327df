"""The reverse bridge: a handshake-era client's call to a 2026-07-28 (stateless) server.

A 2026 server cannot send its client a request mid-call. When it needs sampling, elicitation or
the client's roots it answers ``input_required`` instead: ``inputRequests`` (key → a request)
and an opaque ``requestState``, and expects the same call again with ``inputResponses`` (key →
that request's result). A handshake-era client knows nothing of this, but it does take
server→client requests on its call's stream. So each question becomes one such request, sent
through the relay (our id, the client's declared capabilities checked), and once every answer is
in, the call is retried with them and the server's ``requestState`` — as many rounds as the
server asks for. The client sees one call, some requests during it, and the final result.

Results reach the handshake client as the server sent them, id aside: ``resultType`` (and the
caching hints a list or read may carry) stay. They are 2026 additions a handshake client ignores,
and keeping them lets a complete result pass as bytes, never decoded here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from only1mcp.bridge.state import TTL
from only1mcp.errors import InternalError, RpcError
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
            return answer
        requests, state = asked
        responses = await _ask_all(relay, exchange, requests)
        params = {**params, "inputResponses": responses}
        if state is None:
            params.pop("requestState", None)
        else:
            params["requestState"] = state
    raise InternalError(f"the server still asked for input after {MAX_ROUNDS} rounds")


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
