"""Known differences: cells whose answer through Only1MCP differs from the direct one.

Each is an ``xfail(strict=True, raises=KnownDifference)`` whose reason is the exact difference.
A cell matching an entry is checked precisely, not skipped:

* no difference at all → the strict xfail XPASSes, i.e. fails: the entry must go;
* a difference that the entries' ``patch`` removes entirely (applied to both answers, it
  makes them equal) → ``KnownDifference``: the expected failure;
* any other difference → ``AssertionError`` with the diff: a real failure (``raises`` does not
  match it), so a known difference never hides a new one.

An entry without a patch (the answers differ in shape) xfails on any difference of its cell.
Keys: ``(client, server, transport, mode, scenario)``; ``"*"`` matches any value, and a tuple
any of its values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest


class KnownDifference(AssertionError):
    """The cell differs exactly as a known-difference entry says."""


Patch = Callable[[Any], Any]
Key = tuple[str | tuple[str, ...], ...]


@dataclass(frozen=True)
class Known:
    reason: str
    patch: Patch | None = None


def drop_meta_key(name: str) -> Patch:
    """A patch removing ``_meta[name]`` everywhere (and a ``_meta`` left empty by that)."""

    def patch(value: Any) -> Any:
        if isinstance(value, list):
            return [patch(item) for item in value]
        if not isinstance(value, dict):
            return value
        out = {key: patch(item) for key, item in value.items()}
        meta = out.get("_meta")
        if isinstance(meta, dict) and name in meta:
            meta = {key: item for key, item in meta.items() if key != name}
            if meta:
                out["_meta"] = meta
            else:
                del out["_meta"]
        return out

    return patch


def drop_key(name: str) -> Patch:
    """A patch removing the key ``name`` from every object."""

    def patch(value: Any) -> Any:
        if isinstance(value, list):
            return [patch(item) for item in value]
        if isinstance(value, dict):
            return {key: patch(item) for key, item in value.items() if key != name}
        return value

    return patch


def both(first: Patch, second: Patch) -> Patch:
    return lambda value: second(first(value))


SERVER_INFO_META = Known(
    "a handshake-era client gets results with _meta['io.modelcontextprotocol/serverInfo'] "
    "(the 2026-07-28 backend's serverInfo) which the server gives a handshake client "
    "without: Only1MCP speaks 2026 to a dual-era backend and relays its results as bytes "
    "(bridge/reverse.py keeps 2026 additions)",
    drop_meta_key("io.modelcontextprotocol/serverInfo"),
)

LIST_SERVER_INFO = Known(
    "2026-07-28 list results (tools, resources, templates, prompts) through Only1MCP lack the "
    "_meta['io.modelcontextprotocol/serverInfo'] the server puts on them",
    drop_meta_key("io.modelcontextprotocol/serverInfo"),
)
RAW_2026_FIELDS = Known(
    "a handshake-era client gets results with resultType: 'complete', "
    "_meta['io.modelcontextprotocol/serverInfo'] and, on resources/read, ttlMs: 0 and "
    "cacheScope: 'private' (2026-07-28 additions the server gives a handshake client without): "
    "Only1MCP speaks 2026 to a dual-era backend and relays its results as bytes "
    "(bridge/reverse.py keeps 2026 additions)",
    both(
        both(drop_key("resultType"), drop_meta_key("io.modelcontextprotocol/serverInfo")),
        both(drop_key("ttlMs"), drop_key("cacheScope")),
    ),
)
UNKNOWN_NAMES_LEGACY = Known(
    "unknown tool: the server answers a result {isError: true, text 'Unknown tool: "
    "no_such_tool'}, Only1MCP a JSON-RPC error -32602 'Unknown tool: no_such_tool' (it does not "
    "forward unknown names); unknown prompt: the server answers error code 0, Only1MCP -32602"
)
UNKNOWN_NAMES_MODERN = Known(
    "unknown tool: the server answers a result {isError: true, text 'Unknown tool: "
    "no_such_tool'}, Only1MCP a JSON-RPC error -32602 'Unknown tool: no_such_tool' (it does not "
    "forward unknown names); unknown prompt: the server answers -32603 'Internal server "
    "error', Only1MCP -32602 'Unknown prompt: no_such_prompt'"
)
UNKNOWN_NAMES_TS = Known(
    "unknown tool: the server answers a result {isError: true, text 'MCP error -32602: Tool "
    "no_such_tool not found'}, Only1MCP a JSON-RPC error -32602 'Unknown tool: no_such_tool' "
    "(it does not forward unknown names); unknown prompt: both -32602, the server's message "
    "'MCP error -32602: Prompt no_such_prompt not found', Only1MCP's 'Unknown prompt: "
    "no_such_prompt'"
)
ERA_UPGRADE = Known(
    "the era differs: directly the auto client falls back to the handshake (the server speaks "
    "only up to 2025-11-25), through Only1MCP it gets 2026-07-28, so logging goes by the _meta "
    "logLevel instead of logging/setLevel, and resources/subscribe and list_changed by "
    "subscriptions/listen (events stamped with a subscriptionId) instead of notifications"
)
LISTEN_BY_ONLY1MCP = Known(
    "the server has no subscriptions/listen (directly: -32601 Method not found); through "
    "Only1MCP the listen is served by Only1MCP and the tool's notifications/tools/list_changed "
    "reaches it as a ToolsListChanged event"
)
JSON_MODE_TS = Known(
    "in JSON-response mode the TS SDK server drops what a direct handshake client would get on "
    "an SSE stream: progress, logs, list_changed (none arrive) and server-to-client requests "
    "(the call fails); through Only1MCP, which reaches this dual-era server at 2026-07-28, they "
    "all arrive and the calls succeed"
)
SUBSCRIBE_LEGACY = Known(
    "resources/subscribe answers {} both ways, but the notifications/resources/updated the "
    "server sends a handshake client on its first subscribe never reaches the client through "
    "Only1MCP (which speaks 2026-07-28 to this dual-era backend)"
)
NO_BACK_CHANNEL = Known(
    "in JSON-response mode the server refuses a direct handshake client's server-to-client "
    "request (-32600 'Cannot send ...: this transport context has no back-channel'); through "
    "Only1MCP (2026-07-28 to the backend, input_required bridged) the call succeeds"
)

CAPABILITY_TOOLS = Known(
    "the tool list differs: server-everything registers tools by the capabilities of the "
    "client that initialized it (get-roots-list for roots, trigger-sampling-request, "
    "trigger-elicitation-request, trigger-url-elicitation for sampling/elicitation); through "
    "Only1MCP the list reflects the capabilities Only1MCP initialized the shared backend with "
    "(sampling and elicitation, no roots), not the client's"
)
STARTUP_EVERYTHING = Known(
    "right after initialize the server sends a direct client five notifications/tools/"
    "list_changed (and, to a handshake client, roots/list then an info log 'Roots updated: 1 "
    "root(s) received from client'); through Only1MCP the client gets none of them"
)
ROOTS_NOT_ASKED = Known(
    "directly the server asks the client roots/list after initialize (to serve the client's "
    "roots); through Only1MCP the client is never asked"
)
ROOTS_MID_CALL = Known(
    "a 2026 client through Only1MCP is asked roots/list (and gets the info log 'Roots updated: "
    "1 root(s) received from client') in the middle of its trigger-long-running-operation "
    "call: the request the stdio server sent after its initialize is bridged into that call. "
    "Directly (the server speaks only the handshake era) it comes right after initialize"
)

DUAL_ERA_SERVERS = ("sdk", "fastmcp", "time", "git", "fetch")
HANDSHAKE_ONLY = ("ts", "everything", "filesystem", "memory")
"""Servers on the TypeScript SDK 1.32 (up to 2025-11-25)."""
"""Servers on the Python SDK 2.3: they speak both eras, so Only1MCP reaches them at 2026."""
CALLS = ("content", "structured", "tool_error", "progress", "logging", "sampling", "elicitation")
CALLS += ("roots", "list_changed", "cancellation", "resources", "templates", "prompts")
CALLS += ("completion", "time", "git", "fetch")
"""The scenarios whose answers include results of calls (lists carry no serverInfo)."""
TS_STREAMED = ("progress", "logging", "sampling", "elicitation", "roots", "list_changed")
TS_STREAMED += ("cancellation",)
"""The scenarios whose server-to-client traffic rides the call's SSE stream."""
LISTS = ("list", "resources", "templates", "prompts", "fetch")
"""The scenarios that list."""

KNOWN: dict[Key, list[Known]] = {
    ("sdk", DUAL_ERA_SERVERS, "*", "legacy", CALLS): [SERVER_INFO_META],
    ("sdk", DUAL_ERA_SERVERS, "*", "auto", LISTS): [LIST_SERVER_INFO],
    ("sdk", DUAL_ERA_SERVERS, "*", "legacy", "protocol_error"): [UNKNOWN_NAMES_LEGACY],
    ("sdk", DUAL_ERA_SERVERS, "*", "auto", "protocol_error"): [UNKNOWN_NAMES_MODERN],
    ("sdk", ("ts", "tsdual"), "*", "*", "protocol_error"): [UNKNOWN_NAMES_TS],
    ("sdk", HANDSHAKE_ONLY, "*", "auto", ("logging", "subscribe", "list_changed")): [ERA_UPGRADE],
    ("sdk", DUAL_ERA_SERVERS, ("stdio", "http"), "legacy", "subscribe"): [SUBSCRIBE_LEGACY],
    ("sdk", "sdk", "http-json", "legacy", ("sampling", "elicitation", "roots")): [NO_BACK_CHANNEL],
    ("sdk", "fastmcp", "http-json", "legacy", ("sampling", "elicitation")): [NO_BACK_CHANNEL],
    ("sdk", "fastmcp", "*", "auto", "list_changed"): [LISTEN_BY_ONLY1MCP],
    ("sdk", "tsdual", "*", "auto", ("subscribe", "list_changed")): [LISTEN_BY_ONLY1MCP],
    ("sdk", "tsdual", "http", "legacy", "subscribe"): [SUBSCRIBE_LEGACY],
    ("sdk", "tsdual", "http-json", "legacy", TS_STREAMED): [JSON_MODE_TS],
    ("sdk", "everything", "*", "*", "list"): [CAPABILITY_TOOLS],
    ("*", "everything", "http", "*", "smoke"): [CAPABILITY_TOOLS],
    # over stdio the TypeScript client's list (no capabilities declared) comes out equal
    (("fastmcp", "inspector"), "everything", "stdio", "*", "smoke"): [CAPABILITY_TOOLS],
    ("sdk", "everything", "*", "*", "startup"): [STARTUP_EVERYTHING],
    ("sdk", "filesystem", "*", "*", "startup"): [ROOTS_NOT_ASKED],
    ("sdk", "everything", "stdio", "auto", "everything"): [ROOTS_MID_CALL],
    # the TypeScript SDK client and the Inspector speak the handshake era and show raw JSON
    (("ts", "inspector"), (*DUAL_ERA_SERVERS, "tsdual"), "*", "*", "smoke"): [RAW_2026_FIELDS],
}


def _matches(key: Key, cell: tuple[str, ...]) -> bool:
    return all(
        k == "*" or (c in k if isinstance(k, tuple) else c == k)
        for k, c in zip(key, cell, strict=True)
    )


def known_for(*cell: str) -> list[Known]:
    """The known differences of a cell ``(client, server, transport, mode, scenario)``."""
    return [known for key, entries in KNOWN.items() if _matches(key, cell) for known in entries]


def known_difference(*cell: str) -> list[pytest.MarkDecorator]:
    """The xfail mark of a cell with known differences (empty list otherwise)."""
    entries = known_for(*cell)
    if not entries:
        return []
    raises: tuple[type[BaseException], ...] = (KnownDifference,)
    if any(known.patch is None for known in entries):
        raises = (KnownDifference, AssertionError)
    reason = " AND ".join(known.reason for known in entries)
    return [pytest.mark.xfail(strict=True, raises=raises, reason=reason)]


def compare(
    cell: tuple[str, ...], direct: Any, through: Any, diff: Callable[[Any, Any], str]
) -> None:
    """Assert ``through == direct``, or raise :class:`KnownDifference` when the cell's known
    differences account for every difference (see the module docstring)."""
    if through == direct:
        return
    entries = known_for(*cell)
    for known in entries:
        if known.patch is not None:
            direct, through = known.patch(direct), known.patch(through)
    if entries and through == direct:
        raise KnownDifference(" AND ".join(k.reason for k in entries))
    raise AssertionError(diff(direct, through))
