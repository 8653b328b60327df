"""Which failed requests a pool replays on another replica, and how long it waits first.

A request that never reached a replica (``BackendUnavailable``) may go to any other. One that
did is replayed only when that is safe: a list or a read (:data:`SAFE_METHODS`), a tool the
server annotates ``readOnlyHint`` or ``idempotentHint`` (learned from its ``tools/list``), any
request with ``retry: always``, none with ``retry: never``. Each replay waits an exponential
backoff with jitter first, within the request's own timeout.
"""

from __future__ import annotations

import random

from only1mcp.config.policies import Retry
from only1mcp.protocol.lists import LIST_METHODS
from only1mcp.types import JsonObject

# Requests that change nothing on the server: replaying them elsewhere is always safe.
SAFE_METHODS = LIST_METHODS | {"ping", "prompts/get", "resources/read", "completion/complete"}
RETRY_BACKOFF = 0.05
RETRY_BACKOFF_MAX = 1.0


def may_replay(
    retry: Retry, safe_tools: frozenset[str], method: str, params: JsonObject | None
) -> bool:
    """Whether a request that reached a replica and failed may go to another one."""
    if retry is not Retry.SAFE:
        return retry is Retry.ALWAYS
    if method in SAFE_METHODS:
        return True
    name = params.get("name") if params is not None else None
    return method == "tools/call" and name in safe_tools


def safe_tools_of(tools: list[JsonObject]) -> frozenset[str]:
    """The tools that say calling them twice does no harm."""
    return frozenset(str(tool["name"]) for tool in tools if _replayable(tool.get("annotations")))


def backoff(attempt: int) -> float:
    """Exponential, with full jitter in its upper half so replays do not move in step."""
    ceiling = min(RETRY_BACKOFF_MAX, RETRY_BACKOFF * 2.0 ** (attempt - 1))
    return ceiling * random.uniform(0.5, 1.0)


def _replayable(annotations: object) -> bool:
    if not isinstance(annotations, dict):
        return False
    return annotations.get("readOnlyHint") is True or annotations.get("idempotentHint") is True
